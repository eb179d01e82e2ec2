#pragma once
// Which operations on one ship may overlap. An operation that waits for a
// ship to die (a replace, a stop, an rm --force) stays pending until the
// death is observed; whatever arrives for the same ship meanwhile is either
// joined to it or refused with `conflict`, so that no two operations can
// interleave into a state nobody asked for (for instance a replace that
// spawns the new run just before a pending rm deletes the record, leaving a
// ship running without a record). Pure: tested without a daemon.
namespace keelan {

enum class ShipOp {
  deploy,   // a deploy without a running ship to replace
  replace,  // deploy --replace of a running ship: stop, then spawn
  stop,
  remove,   // rm, with --force when the ship runs
};

const char* shipOpName(ShipOp op);

// nullptr when `incoming` may go ahead while `pending` is under way on the
// same ship; otherwise the reason it is refused (sent as `conflict`).
const char* shipOpConflict(ShipOp pending, ShipOp incoming);

}  // namespace keelan
