"""Personal API tokens: creating, listing and revoking them (``services``) and their page (``views``)."""
