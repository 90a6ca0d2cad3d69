"""Connection settings, from flags or the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///.mutator/mutator.db"
TASK_QUEUE = "mutator"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    temporal_address: str = Field(default="localhost:7233", validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="MUTATOR_DATABASE_URL")
    app: str = Field(default="mutator.example_app:app", validation_alias="MUTATOR_APP")
    task_queue: str = Field(default=TASK_QUEUE, validation_alias="MUTATOR_TASK_QUEUE")
    ui_url: str = Field(default="http://localhost:8233", validation_alias="MUTATOR_UI_URL")
