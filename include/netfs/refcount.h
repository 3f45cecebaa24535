// RefPtr: an intrusive reference for objects whose lifetime is truly shared (folios,
// requests, subrequests). T provides get_ref() and put_ref(). Everything else in netfs
// is a value or a unique_ptr.
#pragma once

#include <utility>

namespace netfs {

template <typename T>
class RefPtr {
 public:
  RefPtr() = default;
  // Adopts a reference the caller already holds.
  static RefPtr adopt(T* p) {
    RefPtr r;
    r.p_ = p;
    return r;
  }
  explicit RefPtr(T* p) : p_(p) {
    if (p_) p_->get_ref();
  }
  RefPtr(const RefPtr& o) : p_(o.p_) {
    if (p_) p_->get_ref();
  }
  RefPtr(RefPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  RefPtr& operator=(RefPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~RefPtr() {
    if (p_) p_->put_ref();
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // Gives up the reference without dropping it.
  T* release() { return std::exchange(p_, nullptr); }

 private:
  T* p_ = nullptr;
};

}  // namespace netfs
