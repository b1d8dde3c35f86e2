"""Settings of the service (API, dashboard, report), read from ``WASTEWATER_*`` environment variables.

One class for every edge: the API (``api.config`` re-exports it), the dashboard and the tertial
report read the same deployment settings (database, public-rule thresholds, upload limits, the
bootstrap key).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wastewater import access


class Settings(BaseSettings):
    """Configuration of the service (:func:`api.main.create_app`, the dashboard, the report).

    Every field can be set from the environment with the ``WASTEWATER_`` prefix,
    e.g. ``WASTEWATER_DATABASE_URL=postgresql+psycopg://...``.
    """

    model_config = SettingsConfigDict(env_prefix="WASTEWATER_", extra="ignore")

    database_url: str = Field(
        "sqlite:///wastewater.db",
        description="SQLAlchemy URL of the database (WASTEWATER_DATABASE_URL).",
    )
    min_public_population: int = Field(
        access.MIN_PUBLIC_POPULATION,
        ge=0,
        description=(
            "Smallest latest population [persons] of a catchment shown to anonymous users "
            "(wastewater.access.MIN_PUBLIC_POPULATION, [Hall2012])."
        ),
    )
    min_public_days_per_week: int = Field(
        access.MIN_DAYS_PER_PUBLIC_WEEK, ge=2, le=7,
        description="Fewest measured days of an ISO week for its public weekly mean (weeks with "
                    "fewer are suppressed; at least 2, so no public figure is one day's value).",
    )
    min_public_days_per_weekend: int = Field(
        access.MIN_DAYS_PER_PUBLIC_WEEKEND, ge=2,
        description="Fewest measured days of a risk weekend behind a public ratio.",
    )
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="Largest accepted upload body [bytes] (default 20 MiB)."
    )
    max_upload_uncompressed_bytes: int = Field(
        200 * 1024 * 1024, gt=0,
        description="Largest sum of an .xlsx archive's uncompressed members [bytes] (zip bombs: 413).")
    max_upload_compression_ratio: float = Field(
        200.0, gt=1, description="Largest uncompressed/compressed ratio of one .xlsx member over 1 MiB.")
    max_upload_rows: int = Field(1_000_000, gt=0, description="Most lines of an uploaded CSV file.")
    upload_time_limit_seconds: float = Field(
        120.0, gt=0, description="Wall time allowed to check one upload [s]; slower files get 422.")
    max_upload_parse_memory_bytes: int = Field(
        2048 * 1024 * 1024, gt=0, description="Memory the parsing process may add [bytes]; more gets 413.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS; empty (default) = no CORS headers at all.",
    )
    admin_key: SecretStr | None = Field(
        None,
        description=(
            "Bootstrap admin token (WASTEWATER_ADMIN_KEY). When set, a request presenting it "
            "acts as role 'admin' with actor name 'bootstrap-admin'; use it once to create "
            "real keys with POST /api/v1/keys, then unset it."
        ),
    )
    auto_upgrade: bool = Field(
        False, description="Run database migrations when the app starts (demo/tests)."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
