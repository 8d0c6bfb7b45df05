// Result<T>: a value or a non-ok Status, without exceptions or allocation of its own.
#ifndef JWTGATE_RESULT_H_
#define JWTGATE_RESULT_H_

#include <cassert>
#include <optional>
#include <utility>

#include "jwtgate/status.h"

namespace jwtgate {

template <typename T>
class [[nodiscard]] Result {
 public:
  // REQUIRES: s != Status::kOk.
  Result(Status s) noexcept : status_(s) { assert(s != Status::kOk); }  // NOLINT: implicit
  Result(T value) : status_(Status::kOk), value_(std::move(value)) {}   // NOLINT: implicit

  bool ok() const noexcept { return status_ == Status::kOk; }
  Status status() const noexcept { return status_; }

  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace jwtgate

#endif  // JWTGATE_RESULT_H_
