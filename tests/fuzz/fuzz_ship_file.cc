// libFuzzer target: a ship file, and a stored ship / run record, as JSON.
// Promise: for any bytes that parse as JSON,
//  - shipSpecFromJson throws nothing but std::invalid_argument, and an
//    accepted spec survives shipSpecToJson -> shipSpecFromJson unchanged
//    (validateShipSpec gives the same verdict on both);
//  - shipRecordFromJson / runRecordFromJson either throw (bad "name" and
//    friends are fine) or give a record whose JSON form is a fixed point:
//    toJson(fromJson(toJson(r))) == toJson(r);
//  - shipRecordText (written by hand) is byte for byte the DOM's dump().
// Nothing crashes, leaks or trips a sanitizer; violations __builtin_trap().
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>

#include "keelan/ship.h"

using nlohmann::json;

namespace {

bool same(const keelan::ShipSpec& a, const keelan::ShipSpec& b) {
  return a.name == b.name && a.root == b.root && a.cwd == b.cwd && a.env == b.env && a.command == b.command &&
         a.user == b.user;
}

void checkSpec(const json& doc) {
  std::optional<keelan::ShipSpec> spec;
  try {
    spec = keelan::shipSpecFromJson(doc, "");
  } catch (const std::invalid_argument&) {
    return;
  }
  std::string verdict = keelan::validateShipSpec(*spec);
  json out = keelan::shipSpecToJson(*spec);
  keelan::ShipSpec back = keelan::shipSpecFromJson(json::parse(out.dump()), "");
  if (!same(*spec, back)) __builtin_trap();
  if (keelan::validateShipSpec(back) != verdict) __builtin_trap();
}

template <typename Record, typename FromJson, typename ToJson>
void checkRecord(const json& doc, FromJson fromJson, ToJson toJson) {
  std::optional<Record> record;
  try {
    record = fromJson(doc);
  } catch (const std::invalid_argument&) {
    return;
  } catch (const json::exception&) {
    return;
  }
  json once = toJson(*record);
  json twice = toJson(fromJson(json::parse(once.dump())));
  if (once != twice) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json doc = json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded()) return 0;
  checkSpec(doc);
  checkRecord<keelan::ShipRecord>(doc, keelan::shipRecordFromJson, keelan::shipRecordToJson);
  try {
    keelan::ShipRecord record = keelan::shipRecordFromJson(doc);
    if (keelan::shipRecordText(record) != keelan::shipRecordToJson(record).dump(-1, ' ', false, json::error_handler_t::replace))
      __builtin_trap();
  } catch (const std::invalid_argument&) {
  } catch (const json::exception&) {
  }
  checkRecord<keelan::RunRecord>(doc, keelan::runRecordFromJson, keelan::runRecordToJson);
  return 0;
}
