"""The REST API of the core app, and the pieces every app's API shares."""
