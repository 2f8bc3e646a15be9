"""Real engine workers as child processes, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
import warnings
from pathlib import Path

from leap.settings import Settings
from leap.topics import TOPICS, create_topics, delete_deployment, engine_group
from reliability.processes import die_with_parent, free_port
from tests.integration.conftest import LEAP


class Deployment:
    """One isolated LEAP deployment on the shared broker: its own topic prefix and workers."""

    def __init__(self, tmp: Path) -> None:
        self.prefix = f"leap-it-{uuid.uuid4().hex[:8]}"
        self.settings = Settings(topic_prefix=self.prefix)
        self.env = {**os.environ, "LEAP_TOPIC_PREFIX": self.prefix, "LEAP_LOG_FORMAT": "json"}
        self.tmp = tmp
        self.workers: list[subprocess.Popen] = []
        self.consumers: list[subprocess.Popen] = []
        self.database: str | None = None
        create_topics(self.settings)

    def with_database(self, policy_file: Path | None = None) -> None:
        """Give this deployment its own PostgreSQL database (migrated) and, optionally, policy file."""
        import psycopg

        from consumers.db import migrate

        base = Settings()
        self.database = self.prefix.replace("-", "_")
        with psycopg.connect(base.database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        url = base.database_url.rsplit("/", 1)[0] + "/" + self.database
        self.env["LEAP_DATABASE_URL"] = url
        if policy_file is not None:
            self.env["LEAP_POLICY_FILE"] = str(policy_file)
        self.settings = Settings(topic_prefix=self.prefix, database_url=url, **({"policy_file": policy_file} if policy_file else {}))
        migrate(self.settings)

    def start_consumer(self) -> subprocess.Popen:
        """Start `leap consume` with its own metrics port; its log goes to a file."""
        port = free_port()
        log = (self.tmp / f"consumer-{port}.log").open("w")
        process = subprocess.Popen([LEAP, "consume", "--metrics-port", str(port)], env=self.env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        process.port = port  # type: ignore[attr-defined]
        process.log_path = log.name  # type: ignore[attr-defined]
        self.consumers.append(process)
        return process

    def start_worker(self, tick_seconds: float = 1.0, datadir: Path | None = None, reader: str | None = None) -> subprocess.Popen:
        """Start `leap worker` with its own port and data folder; its log goes to a file.
        ``reader``: its LEAP_ENGINE_READER (default: the deployment's)."""
        port = free_port()
        log = (self.tmp / f"worker-{port}.log").open("w")
        datadir = datadir or self.tmp / f"worker-{port}"
        process = subprocess.Popen(
            [LEAP, "worker", "--web-port", str(port), "--tick-seconds", str(tick_seconds), "--datadir", str(datadir)],
            env=self.env if reader is None else {**self.env, "LEAP_ENGINE_READER": reader},
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        process.port = port  # type: ignore[attr-defined]
        process.log_path = log.name  # type: ignore[attr-defined]
        self.workers.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        """SIGTERM and wait: a clean shutdown."""
        process.terminate()
        process.wait(60)

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL: no shutdown, no final commit, as in a crash."""
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def logs(self) -> str:
        return "\n".join(Path(p.log_path).read_text()[-3000:] for p in self.workers + self.consumers)  # type: ignore[attr-defined]

    def close(self) -> None:
        processes = self.workers + self.consumers
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                # A process that ignores a stop is a finding even when the test passed: say which, and where its log ended.
                tail = Path(process.log_path).read_text(errors="replace").splitlines()[-5:]  # type: ignore[attr-defined]
                warnings.warn(f"{process.args[1]} (port {process.port}) did not stop within 60 s of SIGTERM and was killed; its log ends: {tail}", stacklevel=1)  # type: ignore[attr-defined]
        delete_deployment(self.settings, self.prefix)
        if self.database is not None:
            import psycopg

            with psycopg.connect(Settings().database_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def engine_lag(self) -> int:
        """Input (activity and roster) not yet committed by the engine; ticks never stop, so not them."""
        from leap.topics import group_lag

        names = ["activity", "roster"]
        return group_lag(self.settings, engine_group(self.prefix), [self.settings.topic(n) for n in names])


__all__ = ["Deployment", "TOPICS", "free_port"]


def query(deployment: Deployment, sql: str, *args) -> list[dict]:
    """Rows of one statement on the deployment's own database (committed)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(deployment.settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, args).fetchall()
