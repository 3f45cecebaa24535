// Result: the one error type of netfs. An errno plus an optional static context string,
// carried inside a [[nodiscard]] value shaped like std::expected (C++23), so that errors
// travel across layer boundaries as values. The kernel, 9P's Rlerror and FUSE all speak
// errno, so no translation table is ever needed.
//
// Threading: plain values; no shared state.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace netfs {

struct Error {
  int errnum = EIO;               // positive errno
  const char* context = nullptr;  // static string, never owned; may be null

  std::string message() const {
    std::string s = std::strerror(errnum);
    if (context) {
      s += " (";
      s += context;
      s += ")";
    }
    return s;
  }
  friend bool operator==(const Error& a, const Error& b) { return a.errnum == b.errnum; }
};

inline Error make_error(int errnum, const char* context = nullptr) { return Error{errnum, context}; }

// Whether an errno describes a condition that may go away by itself (connection lost,
// server restarting, resource momentarily short), so that retrying the same I/O can
// succeed. Decided here and nowhere else. ETIMEDOUT is not: a backend reports it once it
// has waited its whole deadline for the server (reconnects included), and retrying would
// multiply that wait instead of bounding it (issue 15, finding 3).
bool is_retryable(int errnum);

// Whether an errno from the server says it will refuse the same write again until
// something changes there (a full disk or quota, a read-only export, a permission, a file
// too large): write-back of such data is backed off per inode, not retried at the pace
// of the flusher (docs/ARCHITECTURE.md, "Permanent failure").
bool is_lasting_refusal(int errnum);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::in_place_index<1>, e) {}                 // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  int errnum() const { return ok() ? 0 : error().errnum; }
  T value_or(T other) const { return ok() ? value() : other; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(e), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }
  int errnum() const { return ok_ ? 0 : err_.errnum; }

 private:
  Error err_{};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return Status(); }

}  // namespace netfs

// Propagate an error from an expression that yields a Result.
#define NETFS_TRY(expr)                                \
  do {                                                 \
    auto netfs_try_r_ = (expr);                        \
    if (!netfs_try_r_.ok()) return netfs_try_r_.error(); \
  } while (0)
