#include "netfs/request_ops.h"

#include "netfs/request.h"

namespace netfs {

void RequestOps::issue_read(Subrequest& sreq) { sreq.terminated(-EOPNOTSUPP); }

}  // namespace netfs
