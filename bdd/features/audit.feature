@audit
Feature: The audit trail
  Every security-relevant step is written to an append-only SQLite log whose
  records form a keyed chain (HMAC-SHA256 under a key derived from the worker
  secret). A verifier walks the chain and names the first record that was
  edited, deleted, inserted or moved; a signed checkpoint of the head,
  kept elsewhere, also catches records cut off the end, and a log from
  another worker is caught at its first record.

  Scenario: Sealing records the allocation, then the seal, with the shard's facts
    Given a ready worker
    When the worker seals 2 MiB of weights as "m:0"
    Then the audit log holds exactly these events:
      | event         | shard | severity |
      | VramAllocated | m:0   | medium   |
      | VramSealed    | m:0   | critical |
    And the VramSealed event for "m:0" records device 0, 2 MiB and the digest of the weights
    And the VramAllocated event for "m:0" records 2 MiB requested and allocated, and 2 MiB in use after
    And the audit chain verifies

  Scenario: A shard's whole life is recorded in order
    Given a ready worker
    When the worker seals 2 MiB of weights as "m:0"
    And the worker seals 1 MiB of weights as "m:1"
    And the worker verifies "m:0" in full mode
    And the worker verifies "m:1" in quick mode
    And the worker frees "m:0"
    And the worker frees "m:1"
    Then the audit log holds exactly these events:
      | event           | shard | severity |
      | VramAllocated   | m:0   | medium   |
      | VramSealed      | m:0   | critical |
      | VramAllocated   | m:1   | medium   |
      | VramSealed      | m:1   | critical |
      | SealVerified    | m:0   | high     |
      | SealVerified    | m:1   | high     |
      | VramDeallocated | m:0   | medium   |
      | VramDeallocated | m:1   | medium   |
    And the VramDeallocated event for "m:0" records 2 MiB freed and 1 MiB still in use
    And the VramDeallocated event for "m:1" records 1 MiB freed and 0 bytes still in use
    And the audit chain verifies

  Scenario: Querying the log by shard finds the shard's whole life, its allocation included
    Given a ready worker
    When the worker seals 2 MiB of weights as "m:0"
    And the worker seals 1 MiB of weights as "m:1"
    And the worker verifies "m:1" in quick mode
    And the worker frees "m:0"
    Then querying the audit log for shard "m:0" gives these events:
      | event           |
      | VramAllocated   |
      | VramSealed      |
      | VramDeallocated |
    And querying the audit log for shard "m:1" gives these events:
      | event         |
      | VramAllocated |
      | VramSealed    |
      | SealVerified  |

  Scenario: A failed verification is in the database before the verification returns
    Given a ready worker
    And the worker has sealed 1 MiB of weights as "m:0"
    And an attacker zeroes the seal of "m:0"
    When the worker verifies "m:0" in quick mode
    Then the verification fails as an integrity violation of "m:0"
    And the SealVerificationFailed event for "m:0" is in the audit log before any flush
    And the audit chain verifies

  @simulated
  Scenario: A refused allocation is recorded with the bytes requested and available
    Given a ready worker on a simulated device of 8 MiB
    And the worker has sealed 5 MiB of weights as "m:0"
    When the worker tries to seal 4 MiB of weights as "m:1"
    Then the seal is refused as insufficient VRAM, needing 4 MiB with 3 MiB available
    And the audit log holds exactly these events:
      | event                | shard |
      | VramAllocated        | m:0   |
      | VramSealed           | m:0   |
      | VramAllocationFailed |       |
    And the VramAllocationFailed event records 4 MiB requested and 3 MiB available

  Scenario: Refused input leaves no event in the trail
    Given a ready worker
    When the worker tries to seal 1 MiB of weights under a bad shard id: path traversal
    And the worker tries to seal 0 bytes of weights as "empty:0"
    And the worker seals 1 MiB of weights as "m:0"
    And the worker tries to seal 1 MiB of weights as "m:0"
    Then the audit log holds exactly these events:
      | event         | shard |
      | VramAllocated | m:0   |
      | VramSealed    | m:0   |

  Scenario: An edited record is detected, and the report names it
    Given a worker that has sealed, verified and freed "m:0" and shut down
    When an attacker edits record 2 of the audit log
    Then verifying the audit log fails at record 2 because it was edited

  Scenario: A deleted record is detected at the record after the gap
    Given a worker that has sealed, verified and freed "m:0" and shut down
    When an attacker deletes record 2 of the audit log
    Then verifying the audit log fails at record 3 because records before it were deleted

  Scenario: An inserted record is detected, and the report names it
    Given a worker that has sealed, verified and freed "m:0" and shut down
    When an attacker inserts a copy of record 2 after it in the audit log
    Then verifying the audit log fails at record 3 because it does not follow the record before it

  Scenario: Records put in another order are detected
    Given a worker that has sealed, verified and freed "m:0" and shut down
    When an attacker swaps records 2 and 3 of the audit log
    Then verifying the audit log fails at record 2 because it does not follow the record before it

  Scenario: Records cut off the end are caught against a signed checkpoint, though the shorter chain still verifies
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And an auditor keeps a signed checkpoint of the audit log
    When an attacker deletes the last 2 records of the audit log
    Then the audit chain on its own still verifies
    But verifying the audit log against the checkpoint fails at record 4 because the tail was cut off

  Scenario: An older copy of the log put back and written on is caught against a signed checkpoint
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And an attacker keeps a copy of the audit log
    And the worker restarts, seals 1 MiB of weights as "m:1" and shuts down
    And an auditor keeps a signed checkpoint of the audit log
    When the attacker puts the old copy back
    And the worker restarts, seals 2 MiB of weights as "m:2" and shuts down
    Then the audit chain on its own still verifies
    But verifying the audit log against the checkpoint fails at record 7 because an older copy was put back

  Scenario: A checkpoint signed by anyone but the worker is refused
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And an auditor keeps a signed checkpoint of the audit log
    When an attacker re-signs the checkpoint with another key
    Then checking the audit log against the checkpoint is refused as a bad checkpoint signature

  Scenario Outline: A log swapped in from another worker is detected at its first record
    Given a worker that has sealed, verified and freed "m:0" and shut down
    And <other> has written its own audit log
    When an attacker puts the other log in place of the worker's
    Then verifying the audit log fails at record 1 because the log belongs to another worker

    Examples:
      | other                                          |
      | a worker with another id and the same secret   |
      | a worker with the same id and another secret   |
