"""The card providers' HTTP APIs, answered at the boundary (`requests.request`) for the tests.

Nothing of Odoo, of the providers' modules or of the add-on is replaced: every request goes
through `payment.provider._send_api_request` and the provider's own code, and only the network
call returns the answer the provider documents. Each answer is a real `requests.Response`.
"""

import json
import re
from contextlib import contextmanager
from unittest.mock import patch

import requests


class ProviderAPI:
    """Answers requests by method and URL pattern; records every request it received."""

    def __init__(self):
        self.routes = []
        self.calls = []

    def answer(self, method, url_pattern, body=None, status=200, timeout=False):
        """Answer the requests of `method` whose URL matches `url_pattern` (a regex searched
        in the URL): with `body` (or what the function `body(url, request kwargs)` returns) and
        `status`, or no answer at all (`timeout`). The latest answer given for a route wins."""
        self.routes.insert(0, (method, re.compile(url_pattern), body, status, timeout))
        return self

    def requests_to(self, method, url_pattern):
        """Return the (url, kwargs) of the requests received for a route."""
        pattern = re.compile(url_pattern)
        return [
            (url, kwargs) for m, url, kwargs in self.calls if m == method and pattern.search(url)
        ]

    def __call__(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        for route_method, pattern, body, status, timeout in self.routes:
            if route_method == method and pattern.search(url):
                if timeout:
                    raise requests.exceptions.Timeout("Read timed out.")
                response = requests.Response()
                response.status_code = status
                response.reason = 'OK' if status < 400 else 'Error'
                response.url = url
                response.headers['Content-Type'] = 'application/json'
                content = body(url, kwargs) if callable(body) else body
                response._content = json.dumps(content if content is not None else {}).encode()
                return response
        raise AssertionError(f"The test did not expect a request {method} {url}")

    @contextmanager
    def serving(self):
        """Answer the providers' requests while in the context."""
        with patch('odoo.addons.payment.models.payment_provider.requests.request', self):
            yield self
