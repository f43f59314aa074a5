@verify
Feature: Verifying sealed shards
  Before serving, a worker re-checks a shard. A quick check re-checks the
  seal against the shard's record (reads no device memory); a full check
  also re-hashes every byte in device memory; sampled and chunk checks
  re-hash chosen 1 MiB chunks. Any mismatch is a security incident: it is
  recorded in the audit trail before the call returns, and the worker stops
  taking new work.

  Scenario Outline: A valid seal verifies in every mode
    Given a ready worker
    And the worker has sealed 3 MiB of weights as "ok:0"
    When the worker verifies "ok:0" in <mode> mode
    Then the verification passes, having re-hashed <hashed> of device memory
    And the worker is ready

    Examples:
      | mode    | hashed  |
      | quick   | 0 bytes |
      | full    | 3 MiB   |
      | sampled | 2 MiB   |
      | chunk 1 | 1 MiB   |

  Scenario Outline: A tampered shard record fails verification in every mode and stops the worker
    Given a ready worker
    And the worker has sealed 2 MiB of weights as "victim:0"
    And an attacker <tampering> of "victim:0"
    When the worker verifies "victim:0" in <mode> mode
    Then the verification fails as an integrity violation of "victim:0"
    And the error is fatal and a security incident
    And the worker is stopped

    Examples:
      | tampering                                         | mode    |
      | replaces the recorded digest                      | quick   |
      | replaces the recorded digest                      | full    |
      | replaces the recorded digest                      | sampled |
      | zeroes the seal                                   | quick   |
      | zeroes the seal                                   | full    |
      | forges the seal with another key                  | quick   |
      | forges the seal with another key                  | full    |
      | changes the recorded size                         | full    |
      | relabels it as a shard of another model           | quick   |
      | moves it to another position among the shards     | quick   |

  Scenario: A shard whose recorded digest was replaced is reported with the sealed and the claimed digests
    Given a ready worker
    And the worker has sealed 2 MiB of weights as "victim:0"
    And an attacker replaces the recorded digest of "victim:0"
    When the worker verifies "victim:0" in full mode
    Then the verification fails as an integrity violation of "victim:0"
    And the worker refuses to seal 1 MiB of weights as "after:0" because it is stopped
    And the audit log holds exactly these events:
      | event                  | shard    | severity |
      | VramAllocated          | victim:0 | medium   |
      | VramSealed             | victim:0 | critical |
      | SealVerificationFailed | victim:0 | critical |

  @simulated
  Scenario: One flipped bit in device memory is caught by a full verification, which names the chunk
    Given a ready worker
    And the worker has sealed 3 MiB of weights as "model:0"
    And one bit of "model:0" flips in device memory, in chunk 2
    When the worker verifies "model:0" in full mode
    Then the verification fails as an integrity violation of "model:0"
    And the failure names chunk 2 as the first differing chunk
    And the worker is stopped
    And the SealVerificationFailed event for "model:0" gives the sealed chunked root as expected and another root as actual

  @simulated
  Scenario: A quick check proves the record, not the memory; checking the changed chunk catches the flip
    Given a ready worker
    And the worker has sealed 3 MiB of weights as "model:0"
    And one bit of "model:0" flips in device memory, in chunk 1
    When the worker verifies "model:0" in quick mode
    Then the verification passes, having re-hashed 0 bytes of device memory
    When the worker verifies "model:0" in chunk 0 mode
    Then the verification passes, having re-hashed 1 MiB of device memory
    When the worker verifies "model:0" in chunk 1 mode
    Then the verification fails as an integrity violation of "model:0"
    And the worker is stopped

  Scenario: A shard sealed by another worker is refused as unknown, which is not an incident
    Given a ready worker
    And a second worker with another secret
    And the second worker has sealed 1 MiB of weights as "theirs:0"
    When the worker verifies the second worker's shard "theirs:0"
    Then the verification is refused as an unknown shard
    And the error is not a security incident
    And the worker is ready
    And no audit event was recorded

  Scenario: A shard sealed by another worker with the same secret, id and bytes is still unknown here
    Given a ready worker
    And a second worker with the same secret
    And the second worker has sealed 1 MiB of weights as "same:0"
    And the worker has sealed 1 MiB of weights as "same:0"
    When the worker verifies the second worker's shard "same:0"
    Then the verification is refused as an unknown shard
    And the worker is ready

  Scenario: After one shard fails, the others still verify, and the worker stays stopped
    Given a ready worker
    And the worker has sealed 1 MiB of weights as "a:0"
    And the worker has sealed 1 MiB of weights as "b:0"
    And the worker has sealed 1 MiB of weights as "c:0"
    And an attacker replaces the recorded digest of "b:0"
    When the worker verifies "b:0" in full mode
    Then the verification fails as an integrity violation of "b:0"
    When the worker verifies "a:0" in full mode
    Then the verification passes, having re-hashed 1 MiB of device memory
    When the worker verifies "c:0" in full mode
    Then the verification passes, having re-hashed 1 MiB of device memory
    And the worker is stopped
    And the worker refuses to seal 1 MiB of weights as "d:0" because it is stopped
    When the worker frees "a:0"
    Then the worker holds 2 MiB in 2 shards
