@capacity
Feature: Several shards and the capacity of the device
  A worker holds several shards at once. Each is verified on its own, the
  worker's accounting of the memory it holds is exact at every step, and a
  device that is full refuses new shards with the numbers an operator needs.

  Scenario: Several shards are held and verified independently
    Given a ready worker
    When the worker seals 1 MiB of weights as "m:tp0"
    And the worker seals 2 MiB of weights as "m:tp1"
    And the worker seals 3 MiB of weights as "m:tp2"
    Then the worker holds 6 MiB in 3 shards
    And every shard verifies in full mode
    And each shard records the SHA-256 digest of its own weights

  @simulated
  Scenario: One corrupted shard among three is the only one that fails
    Given a ready worker
    And the worker has sealed 2 MiB of weights as "m:tp0"
    And the worker has sealed 2 MiB of weights as "m:tp1"
    And the worker has sealed 2 MiB of weights as "m:tp2"
    And one bit of "m:tp1" flips in device memory, in chunk 0
    When the worker verifies "m:tp0" in full mode
    Then the verification passes, having re-hashed 2 MiB of device memory
    When the worker verifies "m:tp1" in full mode
    Then the verification fails as an integrity violation of "m:tp1"
    When the worker verifies "m:tp2" in full mode
    Then the verification passes, having re-hashed 2 MiB of device memory
    And the audit log holds exactly these events:
      | event                  | shard |
      | VramAllocated          | m:tp0 |
      | VramSealed             | m:tp0 |
      | VramAllocated          | m:tp1 |
      | VramSealed             | m:tp1 |
      | VramAllocated          | m:tp2 |
      | VramSealed             | m:tp2 |
      | SealVerified           | m:tp0 |
      | SealVerificationFailed | m:tp1 |
      | SealVerified           | m:tp2 |

  @simulated
  Scenario: A full device refuses the next shard with the bytes needed and available
    Given a ready worker on a simulated device of 16 MiB
    And the worker has sealed 6 MiB of weights as "m:tp0"
    And the worker has sealed 6 MiB of weights as "m:tp1"
    When the worker tries to seal 6 MiB of weights as "m:tp2"
    Then the seal is refused as insufficient VRAM, needing 6 MiB with 4 MiB available
    And the error can be retried
    And the error message gives the bytes needed and available
    And the worker holds 12 MiB in 2 shards
    And the device has 4 MiB free
    And the worker is ready

  @simulated
  Scenario: Freeing shards returns exactly their bytes, and the room is usable again
    Given a ready worker on a simulated device of 16 MiB
    And the worker has sealed 3 MiB of weights as "m:tp0"
    And the worker has sealed 5 MiB of weights as "m:tp1"
    And the worker has sealed 7 MiB of weights as "m:tp2"
    When the worker frees "m:tp1"
    Then the worker holds 10 MiB in 2 shards
    And the device has 6 MiB free
    When the worker seals 6 MiB of weights as "m:tp3"
    Then the seal succeeds
    And the device has 0 bytes free
    When the worker frees every shard
    Then the worker holds no device memory
    And the device has 16 MiB free

  Scenario: Freeing shards keeps the worker's accounting exact on any device
    Given a ready worker
    And the worker has sealed 1 MiB of weights as "m:tp0"
    And the worker has sealed 2 MiB of weights as "m:tp1"
    And the worker has sealed 4 MiB of weights as "m:tp2"
    When the worker frees "m:tp0"
    Then the worker holds 6 MiB in 2 shards
    When the worker frees "m:tp2"
    Then the worker holds 2 MiB in 1 shard
    When the worker frees every shard
    Then the worker holds no device memory

  @simulated
  Scenario: A transient allocation failure is retriable, recorded, and leaves nothing behind
    Given a ready worker on a simulated device of 16 MiB
    And the device will fail the next allocation
    When the worker tries to seal 2 MiB of weights as "m:tp0"
    Then the seal is refused as a transient device failure
    And the error can be retried
    And the worker holds no device memory
    When the worker seals 2 MiB of weights as "m:tp0"
    Then the seal succeeds
    And the audit log holds exactly these events:
      | event                | shard |
      | VramAllocationFailed |       |
      | VramAllocated        | m:tp0 |
      | VramSealed           | m:tp0 |

  @simulated
  Scenario: A copy into device memory that fails releases the memory and records both steps
    Given a ready worker on a simulated device of 16 MiB
    And the device will fail the next copy
    When the worker tries to seal 2 MiB of weights as "m:tp0"
    Then the seal is refused as a failed copy to the device
    And the worker holds no device memory
    And the device has 16 MiB free
    And the audit log holds exactly these events:
      | event           | shard |
      | VramAllocated   | m:tp0 |
      | VramDeallocated | m:tp0 |
