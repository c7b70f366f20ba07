// A fresh, empty folder for one test. ctest runs each case as its own process, in parallel, so the
// name carries the process id.
#ifndef FTL_TESTS_TEMP_DIR_H_
#define FTL_TESTS_TEMP_DIR_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ftl::testing {

inline std::string FreshDir(const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "/ftl_test_" + std::to_string(::getpid()) + "_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace ftl::testing

#endif  // FTL_TESTS_TEMP_DIR_H_
