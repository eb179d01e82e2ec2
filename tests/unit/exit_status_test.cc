#include "keelan/exit_status.h"

#include <gtest/gtest.h>

TEST(ExitStatus, Placeholder) { EXPECT_EQ(keelan::ExitStatus::exited(3).shellCode(), 3); }
