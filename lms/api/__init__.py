"""The JSON API (``/api/v1``) used by the phone app, the web player and scripts. Bearer tokens only."""
