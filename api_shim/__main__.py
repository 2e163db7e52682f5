"""`python -m api_shim`: serve the app with uvicorn on the configured host and port."""

import uvicorn

from api_shim.core.config import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "api_shim.main:app",
        host=settings.host,
        port=settings.port,
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
