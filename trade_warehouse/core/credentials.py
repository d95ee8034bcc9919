"""Where an API's base URL and key come from: an Airflow connection wins over the environment.

Shared by the Census and the UN Comtrade sources, so both read connections and keep their
keys out of task logs the same way.
"""

from __future__ import annotations


def api_credentials(conn_id: str, base_url: str, api_key: str | None) -> tuple[str, str | None]:
    """Base URL and key from the Airflow connection ``conn_id`` when it exists, else the given ones.

    The connection's *host* (with or without a scheme) replaces the base URL, its *password*
    the key. The key is registered with Airflow's secret masker, so no task log can show it.
    Outside an Airflow runtime (the CLI, tests) the environment's values are used as given.
    """
    try:
        from airflow.sdk import Connection

        connection = Connection.get(conn_id)
    except Exception:  # no Airflow runtime or no such connection: the environment decides
        connection = None
    if connection is not None:
        if connection.host:
            host = connection.host
            base_url = host if host.startswith("http") else f"https://{host}"
        api_key = connection.password or api_key
    if api_key:
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(api_key)
        except ImportError:
            pass
    return base_url.rstrip("/"), api_key
