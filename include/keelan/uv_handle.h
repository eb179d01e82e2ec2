#pragma once
// One owner per libuv handle. libuv frees nothing itself and a handle may
// only be freed after its close callback, so a UvHandle allocates the
// handle, and on reset or destruction closes it and frees it in that
// callback. `data` is the caller's, as in libuv.
#include <uv.h>

#include <utility>

namespace keelan {

template <typename Handle>
class UvHandle {
 public:
  UvHandle() = default;
  ~UvHandle() { reset(); }
  UvHandle(UvHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  // A new, uninitialised handle (closing any previous one); the caller
  // runs uv_*_init on it before anything else.
  Handle* make() {
    reset();
    handle_ = new Handle{};
    return handle_;
  }
  Handle* get() const { return handle_; }
  Handle* operator->() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(handle_); }

  // Closes the handle (pending callbacks are cancelled) and frees it once
  // libuv is done with it. A handle the shutdown deadline already closed
  // (its uv_walk, without a callback) is left to the exiting process:
  // freeing it before the loop has run its close would be a use after free.
  void reset() {
    Handle* handle = std::exchange(handle_, nullptr);
    if (handle == nullptr) return;
    auto* base = reinterpret_cast<uv_handle_t*>(handle);
    if (uv_is_closing(base)) return;
    uv_close(base, [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
  }

 private:
  Handle* handle_ = nullptr;
};

}  // namespace keelan
