from confluent_kafka.admin import AdminClient, ConfigResource

from leap.kafka import client_config
from leap.topics import TOPICS, create_topics, list_topics
from tests.integration.conftest import run_leap


def test_create_is_idempotent_and_applies_retention_and_compaction(settings):
    again = create_topics(settings)
    assert all(line.startswith("exists ") for line in again)
    assert len(again) == len(TOPICS)

    admin = AdminClient(client_config(settings))
    resources = [ConfigResource(ConfigResource.Type.TOPIC, settings.topic(t.name)) for t in TOPICS]
    described = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
    for spec in TOPICS:
        config = described[settings.topic(spec.name)]
        for key, value in spec.config.items():
            assert config[key].value == value, (spec.name, key)
    assert described[settings.topic("roster")]["cleanup.policy"].value == "compact"
    assert described[settings.topic("activity")]["retention.ms"].value == str(400 * 86_400_000)


def test_list_shows_every_topic_with_partitions(settings, leap_env):
    statuses = {s.name: s for s in list_topics(settings)}
    assert set(statuses) == {settings.topic(t.name) for t in TOPICS}
    assert statuses[settings.topic("activity")].partitions == settings.partitions == 8
    assert statuses[settings.topic("dead-letter")].partitions == 1

    shown = run_leap(leap_env, "topics", "list").stdout
    assert settings.topic("activity") in shown and "compact" in shown
