"""The browser client: static files served at ``/`` on the server's own port.

``static/`` holds plain ES modules, HTML and CSS (no build step); ``routes`` serves
them with strict security headers and checks the ``Origin`` of WebSocket handshakes.
"""
