// Test helper: f() must throw ntn::Error with a one-line message containing every fragment.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "ntn/error.h"

namespace ntn::test {

template <class F>
void expect_error(F&& f, std::initializer_list<const char*> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "'" << frag << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

}  // namespace ntn::test
