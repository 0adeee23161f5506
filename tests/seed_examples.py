"""The two config examples of the seed (shared/seeds/connectors-overview.md), verbatim: every
test that says "the seed's example" uses these."""

SEED_MQTT = """\
version: latest
name: my-test-mqtt
type: mqtt
direction: source
topic: my-mqtt
create_topic: true
parameters:
  mqtt-url: "mqtt.hsl.fi"
  mqtt-topic: "/hfp/v2/journey/#"
  fluvio-topic: my-mqtt
"""

SEED_TEST_CONNECTOR = """\
version: v1
name: my-test-connector
type: test-connector
topic: my-test-connector
create_topic: true
direction: source
parameters:
  topic: my-test-connector
"""
