@concurrency
Feature: Many threads sealing, verifying and freeing at once
  A worker is shared by many threads. Whatever they do at the same time, the
  worker never holds more than the device has, the device never reports
  more free memory than it has in total, and when every shard is gone the
  worker holds nothing.

  @simulated
  Scenario: Eight threads on a small device never break the accounting
    Given a ready worker on a simulated device of 16 MiB
    When 8 threads each seal, verify and free 12 shards of 1 MiB while another thread watches the capacity
    Then every seal either succeeded or was refused as retriable insufficient VRAM
    And every successful seal verified
    And at every observation the device's total was at least its free memory, and the worker held no more than the total
    And the worker holds no device memory
    And the device has 16 MiB free
    And the audit log has one VramSealed and one VramDeallocated event per successful seal
    And the audit chain verifies

  Scenario: Threads sealing, verifying and freeing on any device keep exact accounting
    Given a ready worker
    When 4 threads each seal, verify and free 6 shards of 256 KiB while another thread watches the capacity
    Then every seal succeeded
    And every successful seal verified
    And at every observation the device's total was at least its free memory, and the worker held no more than the total
    And the worker holds no device memory
    And the audit log has one VramSealed and one VramDeallocated event per successful seal
    And the audit chain verifies

  Scenario: Threads racing to seal the same shard id: exactly one wins
    Given a ready worker
    When 6 threads try to seal 256 KiB of weights as "contested:0" at the same time
    Then exactly one seal succeeded and the others were refused as duplicate shards
    And the worker holds 256 KiB in 1 shard
