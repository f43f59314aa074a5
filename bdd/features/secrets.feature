@secrets @serial
Feature: No secret ever leaves the worker
  Key material (the worker secret and every key derived from it), device
  pointers, memory addresses and model bytes never appear in an audit event,
  a log line, an error message, or the JSON and debug output of a shard or a
  worker. Each scenario puts a worker through a busy day, with failures,
  then searches everything it said. The model bytes carry a marker so any
  leak of them is found too.

  Background:
    Given a ready worker
    And the worker's log output is captured
    When the worker goes through a busy day of sealing, verifying, failing and freeing

  Scenario: No audit record contains a key, an address or model bytes
    Then no audit record contains a key, an address or model bytes
    And the audit database file contains no key and no model bytes
    And the audit chain verifies

  Scenario: No log line contains a key, an address or model bytes
    Then the captured log output shows the seal, verify and free steps
    And no captured log line contains a key, an address or model bytes

  Scenario: No error message contains a key, an address or model bytes
    Then errors were returned during the day
    And no error message contains a key, an address or model bytes

  Scenario: No JSON or debug output of a shard or a worker contains a key, an address or model bytes
    Then the JSON and debug output of every shard and of the worker contain no key, address or model bytes
    And the worker's debug output shows the secret only by its fingerprint

  Scenario: The audit log's NDJSON export contains no secret and verifies on its own
    Then the audit log's NDJSON export contains no key, address or model bytes
    And the NDJSON export verifies
