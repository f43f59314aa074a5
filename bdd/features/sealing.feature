@seal
Feature: Sealing model shards into device memory
  A worker copies one shard of model weights into device memory and seals it:
  it computes the SHA-256 digest of the bytes and signs (HMAC-SHA256, with a
  key only the worker holds) the shard's id, digest, size, device and seal
  time, and, when given, the model it belongs to and its position among the
  model's shards. Bad input is refused with a clear error before any memory
  is taken or any audit event is written.

  Scenario: A shard is sealed with its id, size, device, digest and seal time
    Given a ready worker
    When the worker seals 3 MiB of weights as "llama-3-8b:tp0"
    Then the seal succeeds
    And the shard "llama-3-8b:tp0" records its id, a size of 3 MiB, device 0 and the SHA-256 digest of the weights
    And the shard "llama-3-8b:tp0" records a seal time within the last minute
    And the shard "llama-3-8b:tp0" is made of 3 chunks of 1 MiB
    And the worker holds 3 MiB in 1 shard

  Scenario: A shard is sealed with the model it belongs to and its position
    Given a ready worker
    When the worker seals 2 MiB of weights as "llama-3-70b:tp1" for model "llama-3-70b" as shard 1 of 8
    Then the seal succeeds
    And the shard "llama-3-70b:tp1" belongs to model "llama-3-70b" as shard 1 of 8

  Scenario: A shard position past the model's last shard is refused before anything happens
    Given a ready worker
    When the worker tries to seal 1 MiB of weights as "llama-3-70b:tp8" for model "llama-3-70b" as shard 8 of 8
    Then the seal is refused as an invalid label: shard 8 is not below the 8 shards of the model
    And no audit event was recorded
    And the worker holds no device memory

  Scenario: A shard id of exactly 256 bytes is accepted
    Given a ready worker
    When the worker seals 1 MiB of weights under a shard id of 256 bytes
    Then the seal succeeds

  Scenario Outline: A shard id that could escape a directory or garble a log is refused before anything happens
    Given a ready worker
    When the worker tries to seal 1 MiB of weights under a bad shard id: <kind>
    Then the seal is refused as an invalid shard id
    And the error message does not repeat the id
    And no audit event was recorded
    And the worker holds no device memory

    Examples:
      | kind                  |
      | path traversal        |
      | parent directory only |
      | embedded traversal    |
      | slash separator       |
      | backslash separator   |
      | NUL byte              |
      | control character     |
      | newline               |
      | empty                 |
      | 257 bytes             |
      | space                 |
      | non-ASCII letter      |

  Scenario: An empty model is refused before anything happens
    Given a ready worker
    When the worker tries to seal 0 bytes of weights as "empty:0"
    Then the seal is refused as an empty model
    And no audit event was recorded
    And the worker holds no device memory

  Scenario: A model over the worker's size limit is refused before anything happens
    Given a ready worker that accepts models of at most 4 MiB
    When the worker tries to seal 5 MiB of weights as "big:0"
    Then the seal is refused as a model of 5 MiB over the limit of 4 MiB
    And no audit event was recorded
    And the worker holds no device memory

  @simulated
  Scenario: A model larger than the free device memory is refused, retriably, and nothing changes
    Given a ready worker on a simulated device of 16 MiB
    When the worker tries to seal 17 MiB of weights as "huge:0"
    Then the seal is refused as insufficient VRAM, needing 17 MiB with 16 MiB available
    And the error can be retried
    And the worker holds no device memory
    And the device has 16 MiB free
    And the audit log holds exactly these events:
      | event                | shard | severity |
      | VramAllocationFailed |       | medium   |

  @simulated
  Scenario: A shard exactly the size of the free device memory is sealed
    Given a ready worker on a simulated device of 16 MiB
    When the worker seals 16 MiB of weights as "exact:0"
    Then the seal succeeds
    And the worker holds 16 MiB in 1 shard
    And the device has 0 bytes free

  @simulated
  Scenario: A shard one byte larger than the free device memory is refused
    Given a ready worker on a simulated device of 16 MiB
    And the worker has sealed 10 MiB of weights as "first:0"
    When the worker tries to seal 6291457 bytes of weights as "second:0"
    Then the seal is refused as insufficient VRAM, needing 6291457 bytes with 6 MiB available
    And the worker holds 10 MiB in 1 shard

  Scenario: A second shard under the id of a live shard is refused
    Given a ready worker
    And the worker has sealed 1 MiB of weights as "dup:0"
    When the worker tries to seal 2 MiB of weights as "dup:0"
    Then the seal is refused as a duplicate shard
    And the worker holds 1 MiB in 1 shard

  Scenario: A worker that has not checked the residency policy refuses to seal
    Given a worker that has not yet checked the residency policy
    When the worker tries to seal 1 MiB of weights as "early:0"
    Then the seal is refused because the residency policy has not been checked
    And no audit event was recorded
    And the worker holds no device memory
