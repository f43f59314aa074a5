@fleet
Feature: The fleet collector keeps every worker's trail and refuses a log that was tampered with
  A checkpoint is worth something once it has left the host that signed it.
  Each worker ships its audit log to the fleet collector (vram-auditd), on
  PostgreSQL, which stores a batch of records only when their Merkle leaves
  extend what it holds to exactly the root of a checkpoint signed by the
  key an operator registered for that worker. A log that was forked, rolled
  back or cut and written on, a worker nobody registered, and a checkpoint
  signed by another key are refused, each with an alert the security team
  can list; nothing the collector held is changed.

  These scenarios need PostgreSQL: `cargo xtask bdd` and `cargo xtask ci`
  start a throwaway server; without DATABASE_URL they do not run, and say so.

  @COL-ING-001 @COL-ING-002 @COL-SHIP-001
  Scenario: Records shipped to the collector are all held, and the chain verifies centrally
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a collector on PostgreSQL that knows the worker's log key
    When the worker ships its audit log to the collector
    Then the collector holds every record of the log and its tree root equals the log's
    And the collector lists no alert

  @COL-ING-004 @COL-ALERT-001
  Scenario: A history rewritten and signed again (a fork) is refused with an alert
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a collector on PostgreSQL that knows the worker's log key
    And the worker ships its audit log to the collector
    When an attacker holding the host's secret and log key rewrites the log after record 2 and signs it again
    And the worker ships its audit log to the collector
    Then the collector refuses the records with status 422 and lists an "inconsistent" alert for the worker's log
    And the collector still holds the 4 records it accepted first

  @COL-ING-004 @COL-ALERT-001
  Scenario: A log cut short and written on (a truncation) is refused with an alert
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a collector on PostgreSQL that knows the worker's log key
    And the worker ships its audit log to the collector
    When an attacker deletes the last 2 records of the audit log
    And the worker restarts, seals 1 MiB of weights as "m:1" and shuts down
    And the worker ships its audit log to the collector
    Then the collector refuses the records with status 422 and lists an "inconsistent" alert for the worker's log
    And the collector still holds the 4 records it accepted first

  @COL-ALERT-001 @COL-SHIP-004
  Scenario: An older copy of the log put back (a rollback) is refused with an alert
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And an attacker keeps a copy of the audit log
    And the worker restarts, seals 1 MiB of weights as "m:1" and shuts down
    And a collector on PostgreSQL that knows the worker's log key
    And the worker ships its audit log to the collector
    And the worker signs a checkpoint of its audit log with its log key
    And the worker submits its checkpoint to the collector's witness
    When the attacker puts the old copy back
    And the worker ships its audit log to the collector
    And the worker signs a checkpoint of its audit log with its log key
    And the worker submits its checkpoint to the collector's witness
    Then shipping stops because the collector holds more records than the log
    And the collector's witness refuses the checkpoint with status 409 and lists a "rollback" alert for the worker's log

  @COL-ING-004 @COL-ALERT-001
  Scenario: A worker no operator registered is refused with an alert
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a collector on PostgreSQL that does not know the worker's log
    When the worker ships its audit log to the collector
    Then the collector refuses the records with status 404 and lists an "unknown_origin" alert for the worker's log

  @COL-ING-004 @COL-ALERT-001
  Scenario: Records under a checkpoint signed by another key are refused with an alert
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a collector on PostgreSQL that knows another key for the worker's log
    When the worker ships its audit log to the collector
    Then the collector refuses the records with status 403 and lists a "bad_signature" alert for the worker's log
