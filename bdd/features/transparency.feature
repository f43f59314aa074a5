@audit @transparency
Feature: A publicly verifiable audit trail
  Every record is a leaf of an RFC 6962 Merkle tree stored beside the chain.
  The worker signs C2SP checkpoints of the tree with a log key that is not
  derived from its secret, so an auditor, a model owner or a witness holding
  only the public key can check the whole log, a proof that one record is
  in it, and that today's log extends the checkpoint they kept.

  @AC-094
  Scenario: An auditor with only the public key verifies the whole log
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And the worker signs a checkpoint of its audit log with its log key
    Then verifying the audit log with only the log's public key succeeds over all its records

  @AC-094 @AC-096
  Scenario: A log with no signed checkpoint fails public verification
    Given a worker that has sealed, verified and freed "m:0" and shut down
    Then verifying the audit log with only the log's public key fails because it has no checkpoint

  @AC-094
  Scenario: An edited record fails public verification at that record
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And the worker signs a checkpoint of its audit log with its log key
    When an attacker edits record 2 of the audit log
    Then verifying the audit log with only the log's public key fails at record 2 because its leaf is not the stored one

  @AC-094
  Scenario: A checkpoint checked with another log's key is refused
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And the worker signs a checkpoint of its audit log with its log key
    Then verifying the audit log with another log key fails because the checkpoint is not signed by it

  @AC-095 @AC-096
  Scenario: A model owner checks a proof that the seal of their shard is logged
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And the worker signs a checkpoint of its audit log with its log key
    When the worker proves that its VramSealed record for "m:0" is in the log
    Then the proof verifies with only the log's public key
    And the proof does not verify for the same record with other contents

  @AC-096
  Scenario: A host that rewrites its history and signs it again is caught against the checkpoint an auditor kept (journald CVE-2023-31439)
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And the worker signs a checkpoint of its audit log with its log key
    And an auditor keeps that signed checkpoint
    When an attacker holding the host's secret and log key rewrites the log after record 2 and signs it again
    Then the rewritten log verifies with only the log's public key on its own
    But verifying it with the auditor's checkpoint as the previous one fails as inconsistent

  @AC-096
  Scenario: An older copy put back is caught as a rollback against the checkpoint an auditor kept
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And the worker signs a checkpoint of its audit log with its log key
    And an attacker keeps a copy of the audit log
    And the worker restarts, seals 1 MiB of weights as "m:1" and shuts down
    And the worker signs a checkpoint of its audit log with its log key
    And an auditor keeps that signed checkpoint
    When the attacker puts the old copy back
    Then verifying it with the auditor's checkpoint as the previous one fails as a rollback
