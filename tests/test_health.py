from fastapi.testclient import TestClient


def test_health_ready_metrics_and_landing(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "callvault_http_requests_total" in metrics.text
    landing = client.get("/")
    assert landing.status_code == 200
    assert "CallVault" in landing.text
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")


def test_security_headers_and_request_id(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    assert r.headers["x-request-id"] == "req-12345678"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # A request id that could inject into logs is replaced.
    assert client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"] != "bad id\n"
