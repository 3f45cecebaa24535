#include "fakes/memory_backend.h"

#include <algorithm>
#include <cstring>

#include "netfs/inode.h"

namespace netfs::testing {

MemoryBackend::MemoryBackend(Config cfg) : cfg_(cfg), rng_(cfg.seed) {
  if (cfg_.async)
    for (unsigned i = 0; i < std::max(1u, cfg_.threads); i++) threads_.emplace_back([this] { worker(); });
}

MemoryBackend::~MemoryBackend() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void MemoryBackend::set_fault_fn(FaultFn fn) {
  std::lock_guard lk(mu_);
  fault_fn_ = std::move(fn);
}

void MemoryBackend::set_size_error(int errnum) {
  std::lock_guard lk(mu_);
  size_error_ = errnum;
}

void MemoryBackend::set_max_len(size_t n) {
  std::lock_guard lk(mu_);
  cfg_.max_len = n;
}

Fault MemoryBackend::fault_for(const Call& c) {
  FaultFn fn;
  {
    std::lock_guard lk(mu_);
    fn = fault_fn_;
  }
  return fn ? fn(c) : Fault{};
}

void MemoryBackend::prepare_write(Subrequest& sreq) {
  std::lock_guard lk(mu_);
  sreq.set_max_len(cfg_.max_len);
  sreq.set_max_segments(cfg_.max_segs);
}

void MemoryBackend::prepare_read(Subrequest& sreq) { prepare_write(sreq); }

void MemoryBackend::issue_write(Subrequest& sreq) {
  const uint64_t id = sreq.request().inode().backend_id();
  const uint64_t pos = sreq.start() + sreq.transferred();
  const size_t len = sreq.len() - sreq.transferred();
  Fault f = fault_for(Call{true, id, pos, len, sreq.retry_count(), sreq.stream_nr()});
  Subrequest* s = &sreq;
  auto fn = [this, s, id, pos, len, f] {
    if (f.kind == Fault::kError) {
      s->terminated(-f.errnum);
      return;
    }
    size_t n = f.kind == Fault::kShort ? std::min(f.short_len, len) : f.kind == Fault::kZero ? 0 : len;
    {
      std::lock_guard lk(mu_);
      File& file = files_[id];
      if (pos + n > file.data.size()) file.data.resize(pos + n);
      s->io().copy_out(file.data.data() + pos, n);
      file.size = std::max<size_t>(file.size, pos + n);
      counts_.write_calls++;
      counts_.write_bytes += n;
      counts_.write_lens.push_back(len);
    }
    s->terminated(static_cast<int64_t>(n));
  };
  complete(std::move(fn), f.delay);
}

void MemoryBackend::issue_read(Subrequest& sreq) {
  const uint64_t id = sreq.request().inode().backend_id();
  const uint64_t pos = sreq.start() + sreq.transferred();
  const size_t len = sreq.len() - sreq.transferred();
  Fault f = fault_for(Call{false, id, pos, len, sreq.retry_count(), 0});
  Subrequest* s = &sreq;
  auto fn = [this, s, id, pos, len, f] {
    if (f.kind == Fault::kError) {
      s->terminated(-f.errnum);
      return;
    }
    size_t n;
    {
      std::lock_guard lk(mu_);
      File& file = files_[id];
      size_t avail = pos < file.size ? file.size - pos : 0;
      n = std::min(len, avail);
      if (f.kind == Fault::kShort) n = std::min(n, f.short_len);
      if (f.kind == Fault::kZero) n = 0;
      s->io().copy_in(file.data.data() + pos, n);
      if (n < len && pos + n >= file.size) s->set_hit_eof();
      counts_.read_calls++;
      counts_.read_bytes += n;
    }
    s->terminated(static_cast<int64_t>(n));
  };
  complete(std::move(fn), f.delay);
}

Status MemoryBackend::set_size(Inode& inode, uint64_t size) {
  std::lock_guard lk(mu_);
  if (size_error_) return make_error(size_error_, "injected set_size failure");
  File& file = files_[inode.backend_id()];
  if (size < file.size) std::fill(file.data.begin() + static_cast<ptrdiff_t>(size), file.data.begin() + static_cast<ptrdiff_t>(file.size), std::byte{0});
  if (size > file.data.size()) file.data.resize(size);
  file.size = size;
  return {};
}

std::vector<std::byte> MemoryBackend::contents(uint64_t id) {
  std::lock_guard lk(mu_);
  File& f = files_[id];
  return std::vector<std::byte>(f.data.begin(), f.data.begin() + static_cast<ptrdiff_t>(f.size));
}

void MemoryBackend::set_contents(uint64_t id, std::vector<std::byte> data) {
  std::lock_guard lk(mu_);
  File& f = files_[id];
  f.size = data.size();
  f.data = std::move(data);
}

void MemoryBackend::reserve(uint64_t id, size_t n) {
  std::lock_guard lk(mu_);
  File& f = files_[id];
  if (f.data.size() < n) f.data.resize(n);
  std::memset(f.data.data(), 0, f.data.size());
}

MemoryBackend::Counts MemoryBackend::counts() {
  std::lock_guard lk(mu_);
  return counts_;
}

void MemoryBackend::reset_counts() {
  std::lock_guard lk(mu_);
  counts_ = Counts{};
}

void MemoryBackend::complete(std::function<void()> fn, std::chrono::microseconds delay) {
  if (!cfg_.async) {
    // Inline completion may still be asked to wait: a delay then blocks the issuer, which
    // is what a synchronous transport would do.
    if (delay.count()) std::this_thread::sleep_for(delay);
    fn();
    return;
  }
  {
    std::lock_guard lk(mu_);
    pending_.push_back(Pending{std::chrono::steady_clock::now() + delay, std::move(fn)});
  }
  cv_.notify_one();
}

void MemoryBackend::worker() {
  std::unique_lock lk(mu_);
  for (;;) {
    if (stop_ && pending_.empty()) return;
    if (paused_ && !stop_) {
      cv_.wait(lk);
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    std::vector<size_t> ready;
    auto earliest = std::chrono::steady_clock::time_point::max();
    for (size_t i = 0; i < pending_.size(); i++) {
      if (pending_[i].due <= now)
        ready.push_back(i);
      else
        earliest = std::min(earliest, pending_[i].due);
    }
    if (ready.empty()) {
      if (pending_.empty())
        cv_.wait(lk);
      else
        cv_.wait_until(lk, earliest);
      continue;
    }
    size_t pick = cfg_.shuffle ? ready[rng_() % ready.size()] : ready.front();
    auto fn = std::move(pending_[pick].fn);
    pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(pick));
    running_++;
    lk.unlock();
    fn();
    lk.lock();
    running_--;
    if (pending_.empty() && running_ == 0) idle_cv_.notify_all();
  }
}

void MemoryBackend::drain() {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return pending_.empty() && running_ == 0; });
}

void MemoryBackend::pause() {
  std::lock_guard lk(mu_);
  paused_ = true;
}

void MemoryBackend::resume() {
  {
    std::lock_guard lk(mu_);
    paused_ = false;
  }
  cv_.notify_all();
}

size_t MemoryBackend::pending() {
  std::lock_guard lk(mu_);
  return pending_.size();
}

}  // namespace netfs::testing
