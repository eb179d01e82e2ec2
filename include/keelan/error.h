#pragma once
// keelan's one error type and the Result that carries it. An Error is plain
// data that can travel over the protocol as it is: `code` is one of the
// stable codes of protocol.h (namespace errc), `message` is for people.
// Result<T> holds either a T or an Error; using it needs no exceptions.
// Asking a Result for the side it does not hold is a bug and aborts.
#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace keelan {

struct Error {
  std::string code;
  std::string message;
  bool operator==(const Error&) const = default;
};

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "a Result of an Error is ambiguous");
  static_assert(!std::is_reference_v<T>, "a Result holds values");

 public:
  // Implicit both ways, so a function returning Result<T> can `return value;`
  // or `return Error{errc::..., "..."};`.
  // (enable_if rather than requires: clang-tidy 14 sees only the former as
  // keeping this from hiding the copy and move constructors.)
  template <typename U = T,
            std::enable_if_t<std::is_convertible_v<U&&, T> && !std::is_same_v<std::remove_cvref_t<U>, Error> &&
                                 !std::is_same_v<std::remove_cvref_t<U>, Result>,
                             int> = 0>
  Result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return *checked(std::get_if<0>(&state_)); }
  const T& value() const& { return *checked(std::get_if<0>(&state_)); }
  T&& value() && { return std::move(*checked(std::get_if<0>(&state_))); }
  const Error& error() const { return *checked(std::get_if<1>(&state_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  template <typename P>
  static P* checked(P* held) {
    if (held == nullptr) std::abort();
    return held;
  }
  std::variant<T, Error> state_;
};

// Success carries nothing: `return {};` is success.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  void value() const {
    if (error_) std::abort();
  }
  const Error& error() const {
    if (!error_) std::abort();
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

}  // namespace keelan
