"""`python -m api_shim`: serve the app with uvicorn on the configured host and port.

uvicorn's own lines use the shim's JSON log configuration; its access log is off because the
shim writes one JSON access line per request itself (``api_shim.access``).
"""

import uvicorn

from api_shim.core.config import get_settings
from api_shim.core.logging import log_config


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "api_shim.main:app",
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=log_config(),
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
