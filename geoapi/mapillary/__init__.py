"""The only code in geoapi that knows Mapillary: its URLs, fields, OAuth and linked accounts.

``client.create_source`` gives the adapter of an API version (``v3``, ``v4``) behind the
``source.MapillarySource`` interface; ``http`` is the one HTTP layer (timeouts, retries,
redaction) and ``errors`` the MapillaryError family; ``oauth`` links an account
(requests-oauthlib); ``accounts`` keeps its tokens fresh; ``jobs`` runs import jobs.
"""
