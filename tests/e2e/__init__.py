"""Browser tests: a real Chromium (Debian package) driven by Playwright against live_server."""
