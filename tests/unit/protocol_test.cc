#include "keelan/protocol.h"

#include <gtest/gtest.h>

namespace keelan {
namespace {

using nlohmann::json;

std::optional<Request> parse(const std::string& line, ProtocolError& error, json& id) {
  return parseRequest(line, error, id);
}

TEST(Protocol, ParsesARequestAndKeepsItsId) {
  ProtocolError error;
  json id;
  auto request = parse(R"({"op":"ping","id":"abc"})", error, id);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->op, "ping");
  EXPECT_EQ(request->id, "abc");
}

TEST(Protocol, RejectsWhatIsNotARequest) {
  struct Case {
    std::string line, code;
  };
  std::vector<Case> cases = {{"not json", errc::invalid_request},
                             {"[1]", errc::invalid_request},
                             {R"({"id":1})", errc::invalid_request},
                             {R"({"op":5})", errc::invalid_request},
                             {R"({"op":"x","id":[1]})", errc::invalid_request},
                             {std::string(100, '[') + std::string(100, ']'), errc::invalid_request},
                             {"{\"op\":\"\xff\xfe\"}", errc::invalid_request},
                             {std::string(kMaxRequestBytes + 1, ' '), errc::request_too_large}};
  for (const auto& c : cases) {
    ProtocolError error;
    json id;
    EXPECT_FALSE(parse(c.line, error, id).has_value()) << c.line.substr(0, 40);
    EXPECT_EQ(error.code, c.code) << c.line.substr(0, 40);
  }
}

TEST(Protocol, BracketsInsideStringsDoNotCountAsNesting) {
  ProtocolError error;
  json id;
  std::string line = R"({"op":"ping","x":")" + std::string(100, '[') + R"("})";
  EXPECT_TRUE(parse(line, error, id).has_value());
}

TEST(Protocol, ResponsesAreOneLine) {
  EXPECT_EQ(encodeLine(okResponse(3)), "{\"id\":3,\"ok\":true}\n");
  std::string line = encodeLine(errorResponse("x", {errc::not_found, "no ship named 'a'"}));
  EXPECT_EQ(line, "{\"error\":{\"code\":\"not_found\",\"message\":\"no ship named 'a'\"},\"id\":\"x\",\"ok\":false}\n");
  // Invalid UTF-8 from the outside world is replaced, not thrown on.
  EXPECT_NO_THROW(encodeLine(json{{"x", std::string("\xff")}}));
}

TEST(Protocol, TypedFieldAccess) {
  json body = json::parse(R"({"name":"a","all":true,"n":5,"big":99999999999999999999,"neg":-1})");
  EXPECT_EQ(requireString(body, "name"), "a");
  EXPECT_THROW(requireString(body, "missing"), ProtocolError);
  EXPECT_THROW(requireString(body, "all"), ProtocolError);
  EXPECT_TRUE(optionalBool(body, "all", false));
  EXPECT_THROW(optionalBool(body, "name", false), ProtocolError);
  EXPECT_EQ(optionalInt(body, "n", 0, 0, 10), 5);
  EXPECT_EQ(optionalInt(body, "absent", 7, 0, 10), 7);
  EXPECT_THROW(optionalInt(body, "big", 0, 0, 10), ProtocolError);
  EXPECT_THROW(optionalInt(body, "neg", 0, 0, 10), ProtocolError);
  EXPECT_THROW(optionalInt(body, "name", 0, 0, 10), ProtocolError);
}

}  // namespace
}  // namespace keelan
