#include "keelan/requests.h"

#include <gtest/gtest.h>

#include <set>

namespace keelan {
namespace {

using nlohmann::json;
namespace rq = requests;

// "s0", "s1", …; appended rather than `"s" + std::to_string(i)`, on which
// GCC 12 at -O3 warns a false -Wrestrict.
std::vector<std::string> expectedNames(size_t count) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.emplace_back("s").append(std::to_string(i));
  return names;
}

// `count` distinct names, each followed by a duplicate of the first.
json manyNames(size_t count) {
  json names = json::array();
  for (const auto& name : expectedNames(count)) {
    names.push_back(name);
    names.push_back("s0");
  }
  return names;
}

struct Valid {
  json body;
  TypedRequest expected;
};

std::vector<Valid> validRequests() {
  json ship = {{"command", {"/bin/true"}}, {"env", {{"A", "b"}}}};
  return {
      {{{"op", "ping"}}, rq::Ping{}},
      {{{"op", "status"}, {"anything", "ignored"}}, rq::Status{}},
      {{{"op", "events"}}, rq::Events{}},
      {{{"op", "metrics"}}, rq::Metrics{}},
      {{{"op", "store-check"}}, rq::StoreCheck{}},
      {{{"op", "deploy"}, {"name", "a"}}, rq::Deploy{"a", std::nullopt, false, false}},
      {{{"op", "deploy"}, {"name", "a.b_c-9"}, {"ship", ship}, {"merge", true}, {"replace", true}},
       rq::Deploy{"a.b_c-9", ship, true, true}},
      {{{"op", "deploy"}, {"name", "a"}, {"ship", nullptr}, {"replace", nullptr}}, rq::Deploy{"a", std::nullopt, false, false}},
      // `merge` is not read without a definition, so a bad one passes there.
      {{{"op", "deploy"}, {"name", "a"}, {"merge", "junk"}}, rq::Deploy{"a", std::nullopt, false, false}},
      {{{"op", "deploy"}, {"name", "a"}, {"ship", json::object()}, {"merge", nullptr}},
       rq::Deploy{"a", json::object(), false, false}},
      {{{"op", "list"}}, rq::List{false}},
      {{{"op", "list"}, {"all", true}}, rq::List{true}},
      {{{"op", "list"}, {"all", nullptr}}, rq::List{false}},
      {{{"op", "inspect"}, {"name", "x"}}, rq::Inspect{"x"}},
      // Only deploy checks ship names; the others just look them up.
      {{{"op", "wait"}, {"name", "no such/name"}}, rq::Wait{"no such/name"}},
      {{{"op", "stop"}, {"name", "a"}}, rq::Stop{{"a"}, SIGTERM, 10000}},
      {{{"op", "stop"}, {"names", {"b", "a", "b", "c", "a"}}}, rq::Stop{{"b", "a", "c"}, SIGTERM, 10000}},
      {{{"op", "stop"}, {"names", {"x"}}, {"name", 5}}, rq::Stop{{"x"}, SIGTERM, 10000}},
      {{{"op", "stop"}, {"name", "a"}, {"signal", "KILL"}, {"timeoutSeconds", 0}}, rq::Stop{{"a"}, SIGKILL, 0}},
      {{{"op", "stop"}, {"name", "a"}, {"signal", "sighup"}}, rq::Stop{{"a"}, SIGHUP, 10000}},
      {{{"op", "stop"}, {"name", "a"}, {"signal", "9"}}, rq::Stop{{"a"}, 9, 10000}},
      {{{"op", "stop"}, {"name", "a"}, {"signal", 64}, {"timeoutSeconds", 86400}}, rq::Stop{{"a"}, 64, 86400000}},
      {{{"op", "stop"}, {"name", "a"}, {"signal", 1}, {"timeoutSeconds", nullptr}}, rq::Stop{{"a"}, 1, 10000}},
      {{{"op", "stop"}, {"names", manyNames(kMaxShipsPerRequest)}}, rq::Stop{expectedNames(kMaxShipsPerRequest), SIGTERM, 10000}},
      {{{"op", "rm"}, {"name", "a"}}, rq::Remove{{"a"}, false, 10000}},
      {{{"op", "rm"}, {"name", "a"}, {"force", true}, {"timeoutSeconds", 3}}, rq::Remove{{"a"}, true, 3000}},
      {{{"op", "rm"}, {"names", {"a", "b", "a"}}}, rq::Remove{{"a", "b"}, false, 10000}},
      {{{"op", "rm"}, {"allStopped", true}}, rq::Remove{{}, false, 10000, true}},
      {{{"op", "stop"}, {"all", true}, {"signal", "INT"}}, rq::Stop{{}, SIGINT, 10000, true}},
      {{{"op", "stop"}, {"all", false}, {"name", "a"}}, rq::Stop{{"a"}, SIGTERM, 10000, false}},
      {{{"op", "restart-ships"}, {"names", {"a", "b"}}}, rq::RestartShips{{"a", "b"}, 10000}},
      {{{"op", "restart-ships"}, {"name", "a"}, {"timeoutSeconds", 2}}, rq::RestartShips{{"a"}, 2000}},
      {{{"op", "kill"}, {"name", "a"}}, rq::Kill{{"a"}, SIGTERM}},
      {{{"op", "kill"}, {"names", {"a"}}, {"signal", "USR1"}}, rq::Kill{{"a"}, SIGUSR1}},
      {{{"op", "reload"}, {"names", {"b", "a"}}}, rq::Reload{{"b", "a"}}},
      {{{"op", "restart"}}, rq::Restart{}},
      {{{"op", "restart"}, {"intervalSeconds", nullptr}}, rq::Restart{}},
      {{{"op", "restart"}, {"intervalSeconds", 5}}, rq::Restart{5, nullptr, std::nullopt, std::nullopt}},
      {{{"op", "restart"}, {"intervalSeconds", 86400}}, rq::Restart{86400, nullptr, std::nullopt, std::nullopt}},
      {{{"op", "store-backup"}, {"path", "/tmp/b.mdb"}}, rq::StoreBackup{"/tmp/b.mdb"}},
  };
}

TEST(Requests, ValidBodiesDecodeToTheirStruct) {
  std::set<std::string_view> ops;
  for (const auto& c : validRequests()) {
    json id;
    auto parsed = parseTypedRequest(c.body.dump(), id);
    ASSERT_TRUE(parsed.ok()) << c.body.dump() << ": " << parsed.error().message;
    EXPECT_EQ(parsed->request, c.expected) << c.body.dump();
    EXPECT_EQ(parsed->op, c.body["op"]);
    EXPECT_EQ(opName(parsed->request), c.body["op"].get<std::string>());
    ops.insert(opName(parsed->request));
  }
  EXPECT_EQ(ops.size(), std::variant_size_v<TypedRequest>) << "every op has a valid case";
}

struct Invalid {
  json body;
  std::string code, message;
};

std::vector<Invalid> invalidRequests() {
  const std::string bad = errc::invalid_argument;
  const std::string notNames = "field 'names' must be an array of strings";
  const std::string notSignal = "field 'signal' is not a signal";
  return {
      {{{"op", "nope"}}, errc::unknown_op, "unknown op 'nope'"},
      {{{"op", "Ping"}}, errc::unknown_op, "unknown op 'Ping'"},
      {{{"op", "deploy"}}, bad, "field 'name' is required"},
      {{{"op", "deploy"}, {"name", 5}}, bad, "field 'name' must be a string"},
      {{{"op", "deploy"}, {"name", nullptr}}, bad, "field 'name' must be a string"},
      {{{"op", "deploy"}, {"name", ""}}, bad, "ship name is empty"},
      {{{"op", "deploy"}, {"name", "-x"}}, bad, "ship name '-x' must start with a letter or digit"},
      {{{"op", "deploy"}, {"name", "a/b"}}, bad, "ship name 'a/b' may contain only letters, digits, '.', '_' and '-'"},
      {{{"op", "deploy"}, {"name", std::string(64, 'a')}}, bad,
       "ship name '" + std::string(64, 'a') + "' is longer than 63 characters"},
      {{{"op", "deploy"}, {"name", "a"}, {"ship", json::object()}, {"merge", "yes"}}, bad,
       "field 'merge' must be a boolean"},
      {{{"op", "deploy"}, {"name", "a"}, {"ship", 5}}, bad, "a ship definition must be a JSON object"},
      {{{"op", "deploy"}, {"name", "a"}, {"ship", {"/bin/true"}}, {"merge", true}}, bad,
       "a ship definition must be a JSON object"},
      {{{"op", "deploy"}, {"name", "a"}, {"replace", "x"}}, bad, "field 'replace' must be a boolean"},
      {{{"op", "list"}, {"all", 1}}, bad, "field 'all' must be a boolean"},
      {{{"op", "inspect"}}, bad, "field 'name' is required"},
      {{{"op", "inspect"}, {"name", {"a"}}}, bad, "field 'name' must be a string"},
      {{{"op", "wait"}}, bad, "field 'name' is required"},
      {{{"op", "wait"}, {"name", true}}, bad, "field 'name' must be a string"},
      {{{"op", "stop"}}, bad, "field 'name' is required"},
      {{{"op", "stop"}, {"name", nullptr}}, bad, "field 'name' must be a string"},
      {{{"op", "stop"}, {"names", "a"}}, bad, notNames},
      {{{"op", "stop"}, {"names", nullptr}, {"name", "a"}}, bad, notNames},
      {{{"op", "stop"}, {"names", {"a", 1}}}, bad, notNames},
      {{{"op", "stop"}, {"names", json::array()}}, bad, "no ship named"},
      {{{"op", "stop"}, {"names", manyNames(kMaxShipsPerRequest + 1)}}, bad, "at most 1000 ships per request"},
      // The names come first: a bad signal behind a bad list is not reported.
      {{{"op", "stop"}, {"names", json::array()}, {"signal", "NOPE"}}, bad, "no ship named"},
      {{{"op", "stop"}, {"name", "a"}, {"signal", "NOPE"}}, bad, notSignal},
      {{{"op", "stop"}, {"name", "a"}, {"signal", ""}}, bad, notSignal},
      {{{"op", "stop"}, {"name", "a"}, {"signal", "0"}}, bad, notSignal},
      {{{"op", "stop"}, {"name", "a"}, {"signal", "1234"}}, bad, notSignal},
      {{{"op", "stop"}, {"name", "a"}, {"signal", nullptr}}, bad, notSignal},
      {{{"op", "stop"}, {"name", "a"}, {"signal", true}}, bad, notSignal},
      {{{"op", "stop"}, {"name", "a"}, {"signal", 1.5}}, bad, notSignal},
      {{{"op", "stop"}, {"name", "a"}, {"signal", 0}}, bad, "field 'signal' must be between 1 and 64"},
      {{{"op", "stop"}, {"name", "a"}, {"signal", -9}}, bad, "field 'signal' must be between 1 and 64"},
      {{{"op", "stop"}, {"name", "a"}, {"signal", 65}}, bad, "field 'signal' is out of range"},
      {{{"op", "stop"}, {"name", "a"}, {"timeoutSeconds", -1}}, bad,
       "field 'timeoutSeconds' must be between 0 and 86400"},
      {{{"op", "stop"}, {"name", "a"}, {"timeoutSeconds", 86401}}, bad, "field 'timeoutSeconds' is out of range"},
      {{{"op", "stop"}, {"name", "a"}, {"timeoutSeconds", "5"}}, bad, "field 'timeoutSeconds' must be an integer"},
      {{{"op", "rm"}}, bad, "field 'name' is required"},
      {{{"op", "rm"}, {"name", "a"}, {"force", "yes"}}, bad, "field 'force' must be a boolean"},
      {{{"op", "rm"}, {"name", "a"}, {"timeoutSeconds", 1.0}}, bad, "field 'timeoutSeconds' must be an integer"},
      {{{"op", "rm"}, {"name", "a"}, {"timeoutSeconds", 100000}}, bad, "field 'timeoutSeconds' is out of range"},
      {{{"op", "restart"}, {"intervalSeconds", 0}}, bad, "field 'intervalSeconds' must be between 1 and 86400"},
      {{{"op", "restart"}, {"intervalSeconds", 86401}}, bad, "field 'intervalSeconds' is out of range"},
      {{{"op", "restart"}, {"intervalSeconds", "5"}}, bad, "field 'intervalSeconds' must be an integer"},
      {{{"op", "stop"}, {"all", true}, {"names", {"a"}}}, bad, "give either 'all' or ship names, not both"},
      {{{"op", "stop"}, {"all", "yes"}}, bad, "field 'all' must be a boolean"},
      {{{"op", "rm"}, {"allStopped", true}, {"name", "a"}}, bad, "give either 'allStopped' or ship names, not both"},
      {{{"op", "rm"}, {"names", json::array()}}, bad, "no ship named"},
      {{{"op", "restart-ships"}}, bad, "field 'name' is required"},
      {{{"op", "restart-ships"}, {"name", "a"}, {"timeoutSeconds", -1}}, bad,
       "field 'timeoutSeconds' must be between 0 and 86400"},
      {{{"op", "kill"}, {"name", "a"}, {"signal", "NOPE"}}, bad, notSignal},
      {{{"op", "kill"}, {"names", "a"}}, bad, notNames},
      {{{"op", "reload"}}, bad, "field 'name' is required"},
      {{{"op", "store-backup"}}, bad, "field 'path' is required"},
      {{{"op", "store-backup"}, {"path", 1}}, bad, "field 'path' must be a string"},
  };
}

TEST(Requests, EachBadFieldGivesItsCodeAndMessage) {
  for (const auto& c : invalidRequests()) {
    json id;
    auto parsed = parseTypedRequest(c.body.dump(), id);
    ASSERT_FALSE(parsed.ok()) << c.body.dump();
    EXPECT_EQ(parsed.error().code, c.code) << c.body.dump();
    EXPECT_EQ(parsed.error().message, c.message) << c.body.dump();
  }
}

TEST(Requests, ErrorsKeepTheRequestsId) {
  for (const json& requestId : {json(7), json("abc"), json(-1), json(nullptr)}) {
    for (auto c : invalidRequests()) {
      c.body["id"] = requestId;
      json id = "stale";
      auto parsed = parseTypedRequest(c.body.dump(), id);
      ASSERT_FALSE(parsed.ok()) << c.body.dump();
      EXPECT_EQ(id, requestId) << c.body.dump();
    }
  }
}

TEST(Requests, ParseErrorsKeepTheIdWhenTheLineHadOne) {
  struct Case {
    std::string line, code;
    json id;
  };
  std::vector<Case> cases = {
      {R"({"op":5,"id":3})", errc::invalid_request, 3},
      {R"({"id":"q"})", errc::invalid_request, "q"},
      {R"({"op":"deploy","id":4,"name":"a","ship":{"onExit":"x\u0000y"}})", errc::invalid_argument, 4},
      {R"({"op":"ping","id":1.5})", errc::invalid_request, nullptr},
      {"not json", errc::invalid_request, nullptr},
  };
  for (const auto& c : cases) {
    json id = "stale";
    auto parsed = parseTypedRequest(c.line, id);
    ASSERT_FALSE(parsed.ok()) << c.line;
    EXPECT_EQ(parsed.error().code, c.code) << c.line;
    EXPECT_EQ(id, c.id) << c.line;
  }
}

TEST(Requests, ASuccessCarriesTheIdAndTheOp) {
  json id;
  auto parsed = parseTypedRequest(R"({"op":"rm","id":"r1","name":"a"})", id);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->id, "r1");
  EXPECT_EQ(id, "r1");
  EXPECT_EQ(parsed->op, "rm");
  EXPECT_TRUE(std::holds_alternative<rq::Remove>(parsed->request));
}

TEST(Requests, DecodeAloneServesADaemonThatChecksTheOpFirst) {
  // The daemon refuses writes during an outage before reading any field:
  // it parses, looks at the op, then decodes.
  ProtocolError error;
  json id;
  auto request = parseRequest(R"({"op":"stop","id":2,"names":[]})", error, id);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->op, "stop");
  auto typed = decodeRequest(std::move(*request));
  ASSERT_FALSE(typed.ok());
  EXPECT_EQ(typed.error(), (Error{errc::invalid_argument, "no ship named"}));
}

TEST(Requests, TheLeadCanVisitATypedRequest) {
  json id;
  auto parsed = parseTypedRequest(R"({"op":"stop","names":["a","b"],"signal":"INT"})", id);
  ASSERT_TRUE(parsed.ok());
  size_t named = std::visit(
      [](const auto& request) -> size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(request)>, rq::Stop>) return request.names.size();
        return 0;
      },
      parsed->request);
  EXPECT_EQ(named, 2u);
  EXPECT_EQ(std::get<rq::Stop>(parsed->request).signal, SIGINT);
}

TEST(ProtocolBuilders, ReplyHeadStartsASuccessReply) {
  EXPECT_EQ(replyHead(7), "{\"id\":7,\"ok\":true,");
  EXPECT_EQ(replyHead(nullptr), "{\"id\":null,\"ok\":true,");
  EXPECT_EQ(replyHead("a\"b"), "{\"id\":\"a\\\"b\",\"ok\":true,");
  // Completed, it is what the json reply would have been.
  std::string line = replyHead("x") + "\"ships\":[]}\n";
  EXPECT_EQ(line, encodeLine(json{{"id", "x"}, {"ok", true}, {"ships", json::array()}}));
  EXPECT_EQ(replyLineWith("x", "ships", "[]"), line);
}

TEST(ProtocolBuilders, ReplyHeadReplacesInvalidUtf8) {
  std::string head = replyHead(std::string("\xff"));
  EXPECT_EQ(head, "{\"id\":\"\xef\xbf\xbd\",\"ok\":true,");
  EXPECT_TRUE(json::accept(head + "\"x\":1}"));
}

TEST(ProtocolBuilders, EventLineMatchesTheJsonObjectItStandsFor) {
  json record = {{"name", "a"}, {"status", "running"}, {"processId", 12}};
  std::string line = eventLine("deployed", "a", record.dump(), "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(line, "{\"at\":\"2026-12-01T00:00:00.000Z\",\"event\":\"deployed\",\"record\":" + record.dump() +
                      ",\"ship\":\"a\"}\n");
  json asObject = {{"event", "deployed"}, {"ship", "a"}, {"at", "2026-12-01T00:00:00.000Z"}, {"record", record}};
  EXPECT_EQ(line, encodeLine(asObject));
}

TEST(ProtocolBuilders, EventLineReplacesInvalidUtf8InTheShipName) {
  std::string line = eventLine("stopped", std::string("b\xfe"), "{}", "t");
  EXPECT_EQ(line, "{\"at\":\"t\",\"event\":\"stopped\",\"record\":{},\"ship\":\"b\xef\xbf\xbd\"}\n");
  EXPECT_TRUE(json::accept(line));
}

TEST(ProtocolBuilders, NonThrowingFieldReadersMatchTheThrowingOnes) {
  json body = json::parse(R"({"name":"a","all":true,"n":5,"neg":-1})");
  EXPECT_EQ(readString(body, "name").value(), requireString(body, "name"));
  EXPECT_EQ(readString(body, "all").error().message, "field 'all' must be a string");
  EXPECT_EQ(readOptionalString(body, "absent", "dflt").value(), "dflt");
  EXPECT_TRUE(readOptionalBool(body, "all", false).value());
  EXPECT_EQ(readOptionalInt(body, "neg", 0, 0, 10).error(),
            (Error{errc::invalid_argument, "field 'neg' must be between 0 and 10"}));
  try {
    optionalInt(body, "neg", 0, 0, 10);
    ADD_FAILURE() << "no throw";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e, readOptionalInt(body, "neg", 0, 0, 10).error());
  }
}

}  // namespace
}  // namespace keelan
