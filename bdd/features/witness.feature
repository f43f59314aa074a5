@audit @witness
Feature: Witnesses cosign only a log that extends what they saw
  A signed checkpoint proves nothing against whoever holds the log key: a
  compromised host can cut its log, keep writing and sign the result. A
  witness (c2sp.org/tlog-witness) cosigns a checkpoint only if it is
  consistent with the last one it cosigned for that log. The worker
  submits each checkpoint to its witnesses, stores their cosignatures, and
  records any refusal in its own audit log as a WitnessAlarm.

  @AC-WIT-003 @AC-WIT-004
  Scenario: A witness cosigns the checkpoint, and an auditor can require its cosignature
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a witness that knows the worker's log key
    And the worker signs a checkpoint of its audit log with its log key
    When the worker submits its checkpoint to the witness
    Then the witness cosigned the checkpoint and the log stores its cosignature
    And verifying the audit log with only the log's public key and the witness's cosignature succeeds

  @AC-WIT-005 @AC-WIT-006 @AC-096
  Scenario: A log cut back and written on is refused by the witness, and the alarm is in the log (journald CVE-2023-31438)
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a witness that knows the worker's log key
    And the worker signs a checkpoint of its audit log with its log key
    And the worker submits its checkpoint to the witness
    When an attacker holding the host's secret and log key rewrites the log after record 2 and signs it again
    And the worker submits its checkpoint to the witness
    Then the witness raised an alarm with status 422
    And the audit log holds a WitnessAlarm record naming the witness and status 422
    And the witness still holds the checkpoint it cosigned first

  @AC-WIT-006
  Scenario: A witness that does not know the log raises an alarm
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a witness that does not know the worker's log
    And the worker signs a checkpoint of its audit log with its log key
    When the worker submits its checkpoint to the witness
    Then the witness raised an alarm with status 404
    And the audit log holds a WitnessAlarm record naming the witness and status 404

  @AC-WIT-006
  Scenario: A witness that holds another key for the log raises an alarm
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And a witness that knows another key for the worker's log
    And the worker signs a checkpoint of its audit log with its log key
    When the worker submits its checkpoint to the witness
    Then the witness raised an alarm with status 403
    And the audit log holds a WitnessAlarm record naming the witness and status 403
