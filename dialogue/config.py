"""The one configuration object, read at the edge (CLI, service, tests)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_shared_data_dir() -> Path | None:
    """``../shared/data`` beside the source tree, where the public reference data lives, if any."""
    candidate = Path(__file__).resolve().parents[2] / "shared" / "data"
    return candidate if candidate.is_dir() else None


def default_data_dir() -> Path:
    """The user's data directory for csbot (the embedded SQLite file lives here)."""
    return Path(user_data_dir("csbot", appauthor=False))


class Settings(BaseSettings):
    """csbot settings; every field can be set with a ``CSBOT_`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="CSBOT_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # None means the embedded default: an SQLite file in ``data_dir``.
    database_url: str | None = None
    # Seed of the synthetic world built by ``csbot world seed`` and ``csbot demo``.
    world_seed: int = 7
    world_customers: int = 2000
    world_items: int = 600
    # Largest accepted customer message, in characters; longer ones get a clear refusal.
    max_message_chars: int = 2000
    # Public reference data (Bitext, BANKING77, …) that widens the simulated customers' phrasing.
    shared_data_dir: Path | None = Field(default_factory=default_shared_data_dir)

    # The trained ranker (``csbot train ranker`` writes it); None means data_dir/models/ranker.pt.
    ranker_checkpoint: Path | None = None

    def resolved_ranker_checkpoint(self) -> Path:
        """Where the ranker checkpoint is read from and written to."""
        return self.ranker_checkpoint or self.data_dir / "models" / "ranker.pt"

    # The trained generator (``csbot train generator`` writes it); None means
    # data_dir/models/generator.pt.
    generator_checkpoint: Path | None = None

    def resolved_generator_checkpoint(self) -> Path:
        """Where the generator checkpoint is read from and written to."""
        return self.generator_checkpoint or self.data_dir / "models" / "generator.pt"

    # The personalization artifact (``csbot personalize fit`` writes it); None means
    # data_dir/models/personalization.npz.
    personalization_artifact: Path | None = None

    def resolved_personalization_artifact(self) -> Path:
        """Where the personalization artifact is read from and written to."""
        return self.personalization_artifact or self.data_dir / "models" / "personalization.npz"

    # The service (``csbot serve``): the arm answering customers in auto mode ("auto": the ranker
    # where its checkpoint exists, else the rule-based agent), the mode new chats start in, the
    # largest request body accepted (larger gets 413) and where it listens.
    serve_arm: str = "auto"
    chat_mode: str = "auto"
    # Worker processes computing customers' turns (``csbot serve --workers``); below 2 the app's
    # own process computes them.
    turn_workers: int = 0
    max_body_bytes: int = 64 * 1024
    host: str = "127.0.0.1"
    port: int = 8000

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL to use: ``CSBOT_DATABASE_URL`` or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'csbot.sqlite3'}"
