#include "tools/netfs/mount_wiring.h"

#include "cache/store.h"
#include "netfs/engine.h"
#include "netfs/write.h"
#include "tools/netfs/schemes.h"

namespace netfs::cli {

Result<std::unique_ptr<fuse::Filesystem>> build_mount(const fuse::RemoteUrl& url, const fuse::MountOptions& opts,
                                                      std::string* why) {
  const Scheme* scheme = scheme_of(url.to_string());
  if (!scheme) {
    if (why) *why = "no backend speaks '" + url.to_string() + "' (expected " + scheme_forms() + ")";
    return make_error(EPROTONOSUPPORT, "mount: scheme");
  }
  fuse::MountParts parts;
  parts.engine = std::make_unique<Engine>(opts.engine);
  if (!opts.cache.key_file.empty() && opts.cache.dir.empty()) {
    if (why) *why = "cache_key needs cache_dir: it encrypts the local cache";
    return make_error(EINVAL, "cache_key without cache_dir");
  }
  if (!opts.cache.dir.empty()) {
    auto st = cache::Store::open(opts.cache);
    if (!st.ok()) {
      if (why)
        *why = "cannot use cache_dir " + opts.cache.dir +
               (opts.cache.key_file.empty() ? "" : " with cache_key " + opts.cache.key_file) + ": " +
               st.error().message();
      return st.error();
    }
    parts.store = std::move(*st);
  }
  NETFS_TRY(scheme->connect(url, opts, parts, why));
  parts.flusher = std::make_unique<Flusher>(*parts.engine);
  return fuse::Filesystem::assemble(url, opts, std::move(parts), why);
}

}  // namespace netfs::cli
