#!/usr/bin/env python3
"""rectify's Open311 endpoint through a GeoReport v2 client from PyPI.

Usage: python3 tests/open311_client.py <base URL> <api_key>
       (base URL such as http://127.0.0.1:50051/open311/v2)

Uses the `georeport` package (0.3.1, `python3 -m pip install georeport`),
a client written elsewhere, to list services, read a service definition and
read requests back, in JSON and in XML. georeport 0.3.1 has no method to
submit a request, so the POST goes through `requests` (georeport's own HTTP
dependency) exactly as the specification describes it. Prints
`submitted <id>` for the caller to check through gRPC; exits non-zero on
any mismatch.
"""

import sys

import requests
from georeport import GeoReport


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def main():
    base_url, api_key = sys.argv[1], sys.argv[2]
    as_json = GeoReport(base_url, api_key=api_key, output_format="json")
    as_xml = GeoReport(base_url, api_key=api_key, output_format="xml")

    services = as_json.get_service_list()
    codes = [service["service_code"] for service in services]
    check("getting-electricity" in codes, f"getting-electricity among {codes}")
    electricity = services[codes.index("getting-electricity")]
    check(electricity["service_name"] == "获得电力组", electricity)
    check(electricity["metadata"] is True, electricity)
    xml_services = as_xml.get_service_list()
    check([s["service_code"] for s in xml_services] == codes, "XML lists the same services")

    definition = as_json.get_service_definition("getting-electricity")
    district = definition["attributes"][0]
    check(district["code"] == "district", district)
    keys = [value["key"] for value in district["values"]]
    check("kangbashi" in keys, keys)
    xml_definition = as_xml.get_service_definition("getting-electricity")
    xml_values = xml_definition["attributes"]["attribute"]["values"]["value"]
    check([v["key"] for v in xml_values] == keys, "XML defines the same districts")

    reply = requests.post(
        f"{base_url}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "getting-electricity",
            "description": "康巴什区新建门店申请用电报装，一个月未答复",
            "lat": "39.6086",
            "long": "109.7810",
            "first_name": "Ming",
            "last_name": "Zhang",
            "phone": "13900001111",
            "attribute[district]": "kangbashi",
        },
        headers={"Idempotency-Key": "python-client-0001"},
        timeout=30,
    )
    check(reply.status_code == 200, f"POST: {reply.status_code} {reply.text}")
    request_id = reply.json()[0]["service_request_id"]
    print(f"submitted {request_id}")

    request = as_json.get_service_request(request_id)
    check(request["service_request_id"] == request_id, request)
    check(request["status"] == "open", request)
    check(request["description"] == "康巴什区新建门店申请用电报装，一个月未答复", request)
    check(abs(request["lat"] - 39.6086) < 1e-9, request)
    xml_request = as_xml.get_service_request(request_id)
    check(xml_request["service_request_id"] == request_id, xml_request)
    check(xml_request["long"] == "109.781", xml_request)

    listed = as_json.get_service_requests(service_request_id=request_id)
    check([r["service_request_id"] for r in listed] == [request_id], listed)
    xml_listed = as_xml.get_service_requests(service_request_id=request_id)
    check(xml_listed["service_request_id"] == request_id, xml_listed)

    # A bad window is the client's error, reported as HTTP 400.
    try:
        as_json.get_service_requests(
            start_date="2026-01-01T00:00:00Z", end_date="2026-12-01T00:00:00Z"
        )
        check(False, "a 334-day window was accepted")
    except requests.HTTPError as error:
        check(error.response.status_code == 400, error)
    print("ok")


if __name__ == "__main__":
    main()
