"""Drives a live `cirrus api` through a Python client that
openapi-python-client generated from its /openapi.json (scripts/api-conformance
generates it as the package `cirrus_generated`): one create, get, conditional
replace and purge, so the document is proven usable, not only valid.

Usage: generated_client.py BASE_URL TOKEN
"""

import sys

from cirrus_generated import AuthenticatedClient
from cirrus_generated.api.domains import get_domain, get_purge, purge_domain, put_domain
from cirrus_generated.models import DomainInput, DomainView, PurgeAccepted, PurgeSelection, PurgeStatus


def check(condition, what):
    if not condition:
        print(f"generated client: {what}", file=sys.stderr)
        sys.exit(1)


def main(base_url, token):
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    domain = "generated.example.com"
    body = DomainInput.from_dict({"origins": [{"host": "192.0.2.10", "port": 8080}], "cache": {"default_ttl": 60}})

    created = put_domain.sync_detailed(domain, client=client, body=body, if_none_match="*")
    check(created.status_code == 201, f"create answered {created.status_code}: {created.content!r}")
    check(isinstance(created.parsed, DomainView), f"create parsed as {type(created.parsed)}")

    again = put_domain.sync_detailed(domain, client=client, body=body, if_none_match="*")
    check(again.status_code == 412, f"a second create-only PUT answered {again.status_code}")

    got = get_domain.sync_detailed(domain, client=client)
    check(got.status_code == 200 and isinstance(got.parsed, DomainView), f"get answered {got.status_code}")
    view = got.parsed
    check(view.domain == domain, f"get returned {view.domain}")
    check(view.origins[0].host == "192.0.2.10" and view.origins[0].port == 8080, "origin round trip")
    check(view.cache.default_ttl == 60, "cache round trip")
    etag = got.headers.get("etag")
    check(etag, "get sent no ETag")

    body.cache.default_ttl = 120
    replaced = put_domain.sync_detailed(domain, client=client, body=body, if_match=etag)
    check(replaced.status_code == 200, f"conditional replace answered {replaced.status_code}")

    purge = purge_domain.sync_detailed(
        domain, client=client, body=PurgeSelection.from_dict({"prefixes": ["/img/"]})
    )
    check(purge.status_code == 202 and isinstance(purge.parsed, PurgeAccepted), f"purge answered {purge.status_code}")
    status = get_purge.sync_detailed(purge.parsed.id, client=client)
    check(status.status_code == 200 and isinstance(status.parsed, PurgeStatus), f"purge status {status.status_code}")
    check(status.parsed.domain == domain, "purge status names the domain")
    print("generated client: create, create-only refusal, get, conditional replace, purge and its status: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
