// Defaults of the cache cookie's read side: a cookie that holds nothing reports so, and a
// read sent to it anyway fails with ENODATA, which makes the engine go to the server.
#include "netfs/cache_cookie.h"

#include <cerrno>

#include "netfs/request.h"

namespace netfs::cache {

void Cookie::issue_read(Subrequest& sreq) { sreq.terminated(-ENODATA); }

}  // namespace netfs::cache
