package dev.fdipc.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SpinBudgetTest {
  @Test
  void countsTheCpuListOfSysfs() {
    assertEquals(1, SpinBudget.countCpus("0"));
    assertEquals(2, SpinBudget.countCpus("0-1"));
    assertEquals(5, SpinBudget.countCpus("0-3,6"));
    assertEquals(4, SpinBudget.countCpus("0,2,4-5"));
  }

  @Test
  void readsThisMachinesOnlineCpus() {
    assertTrue(SpinBudget.onlineCpus() >= Runtime.getRuntime().availableProcessors());
  }

  @Test
  void grantsAtMostHalfTheCpusAndTakesPlacesBack() {
    int max = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
    int taken = 0;
    while (SpinBudget.tryAcquire()) {
      taken++;
      if (taken > max) {
        break;
      }
    }
    try {
      assertTrue(taken <= max, "granted " + taken + " places, more than " + max);
      assertFalse(SpinBudget.tryAcquire());
    } finally {
      for (int i = 0; i < taken; i++) {
        SpinBudget.release();
      }
    }
    assertTrue(SpinBudget.tryAcquire());
    SpinBudget.release();
  }
}
