// The two ways an operation ends badly for the person who asked: a refusal they can act on
// (exit 1, message names what and why) or a usage mistake (exit 2).
#pragma once

#include <stdexcept>
#include <string>

namespace juniper {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A refusal because the thing asked for does not exist (a record, a record type): pages answer 404.
class NotFoundError : public UserError {
 public:
  using UserError::UserError;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure that may go away by itself (network, server busy): retry later.
class TemporaryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace juniper
