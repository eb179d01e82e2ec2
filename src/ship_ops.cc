#include "keelan/ship_ops.h"

namespace keelan {

const char* shipOpName(ShipOp op) {
  switch (op) {
    case ShipOp::deploy: return "deploy";
    case ShipOp::replace: return "replace";
    case ShipOp::stop: return "stop";
    case ShipOp::remove: return "rm";
  }
  return "?";
}

// A pending stop is joined by another stop or an rm (both only wait for the
// same death; nothing is spawned after it). Everything else that arrives
// while an operation waits is refused: a replace is about to spawn, an rm
// is about to delete the record, and a deploy would race either of them.
const char* shipOpConflict(ShipOp pending, ShipOp incoming) {
  switch (pending) {
    case ShipOp::replace:
      return "a replace of this ship is under way";
    case ShipOp::remove:
      return "a removal of this ship is under way";
    case ShipOp::stop:
      if (incoming == ShipOp::stop || incoming == ShipOp::remove) return nullptr;
      return "a stop of this ship is under way";
    case ShipOp::deploy:
      return nullptr;  // a deploy is never pending: it spawns at once
  }
  return nullptr;
}

}  // namespace keelan
