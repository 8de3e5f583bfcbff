"""The Chorus console: a single page served at /console, talking to the admin API."""
