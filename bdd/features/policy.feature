@policy @simulated
Feature: The residency policy
  Weights must live in real device memory only. At start-up the worker checks
  the device: a GPU that shares its memory with the host or hands out managed
  (unified) memory could serve the weights from host RAM, so it is refused.
  A GPU that can read pageable host memory (HMM, ATS) is recorded with every
  seal, and refused only where the operator asks for that. A refusal is a security incident:
  one PolicyViolation event per broken rule is durable before the check
  returns, and the worker stops. These scenarios need a device that can be
  made to report such properties, so they run on the simulated device only.

  Scenario Outline: A device that cannot guarantee the weights stay in VRAM is refused at start-up
    Given a worker on a simulated device that <reports>
    When the worker checks the residency policy
    Then the check fails as a policy violation of "<policy>"
    And the PolicyViolation event is in the audit log before any flush
    And the error is fatal and a security incident
    And the worker is stopped
    And the worker refuses to seal 1 MiB of weights as "x:0" because it is stopped
    And the worker holds no device memory
    And the audit log holds exactly these events:
      | event           | severity | policy   |
      | PolicyViolation | critical | <policy> |

    Examples:
      | reports                                              | policy                  |
      | is an integrated GPU                                 | no-integrated-gpu       |
      | hands out managed (unified) memory                   | no-managed-memory       |
      | reads pageable host memory directly (HMM), under a policy that refuses it            | no-pageable-host-access |
      | reads host memory through the host page tables (ATS), under a policy that refuses it | no-pageable-host-access |

  Scenario: A GPU that reads pageable host memory (HMM) is accepted, and each seal records it
    Given a worker on a simulated device that reads pageable host memory directly (HMM)
    When the worker checks the residency policy
    Then the check passes
    When the worker seals 1 MiB of weights as "hmm:0"
    Then the seal succeeds
    And the VramSealed event for "hmm:0" records pageable host memory access and simulated, unmanaged memory of device 0

  Scenario: The simulated device is refused under the production policy
    Given a worker on a simulated device that is a plain discrete GPU, under the production policy
    When the worker checks the residency policy
    Then the check fails as a policy violation of "no-simulated-device"
    And the worker is stopped
    And the audit log holds exactly these events:
      | event           | policy              |
      | PolicyViolation | no-simulated-device |

  Scenario: A device that breaks two rules records one event per rule
    Given a worker on a simulated device that is an integrated GPU handing out managed (unified) memory
    When the worker checks the residency policy
    Then the check fails as a policy violation of "no-integrated-gpu"
    And the check fails as a policy violation of "no-managed-memory"
    And the audit log holds exactly these events:
      | event           | policy            |
      | PolicyViolation | no-integrated-gpu |
      | PolicyViolation | no-managed-memory |

  Scenario: A GPU that merely supports managed memory and unified addressing is accepted
    Given a worker on a simulated device that supports managed memory, unified addressing and concurrent managed access but allocates plain device memory
    When the worker checks the residency policy
    Then the check passes
    And the worker is ready
    And no audit event was recorded
    When the worker seals 1 MiB of weights as "ok:0"
    Then the seal succeeds

  Scenario: A stopped worker stays stopped when the policy is checked again
    Given a worker on a simulated device that is an integrated GPU
    And the worker has checked the residency policy
    When the worker checks the residency policy
    Then the check is refused because the worker is stopped
    And the worker is stopped
    And the audit log holds exactly these events:
      | event           | policy            |
      | PolicyViolation | no-integrated-gpu |
