#include "common/data/verification_bin.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/file.h"

namespace ftl {
namespace {

// A pickled value of the kinds these files hold. Lists are shared, as in Python: the memo and the
// stack refer to one list that APPENDS later fills.
struct Value {
  enum Kind { kMark, kNone, kBool, kInt, kBytes, kList, kTuple, kCodecsEncode } kind = kNone;
  int depth = 0;  // containers: 1 + the deepest item (bounded: no deep destruction recursion)
  bool flag = false;
  int64_t number = 0;
  std::shared_ptr<const std::string> bytes;  // shared: the memo keeps a reference, not a copy
  std::shared_ptr<std::vector<Value>> items;
};

// Text (UTF-8, as BINUNICODE holds it) of code points below 256 as the bytes they stand for: how
// Python 3 pickles bytes at protocol 2, _codecs.encode(text, "latin1").
absl::StatusOr<std::string> Latin1FromUtf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(text[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c & 0xe0) == 0xc0 && c <= 0xc3 && i + 1 < text.size() &&
               (static_cast<uint8_t>(text[i + 1]) & 0xc0) == 0x80) {
      out.push_back(
          static_cast<char>(((c & 0x1f) << 6) | (static_cast<uint8_t>(text[++i]) & 0x3f)));
    } else {
      return absl::InvalidArgumentError("a latin-1 string with a character above U+00FF");
    }
  }
  return out;
}

const char* OpcodeName(uint8_t op) {
  switch (op) {
    case 'c':
      return "GLOBAL";
    case 0x93:
      return "STACK_GLOBAL";
    case 'R':
      return "REDUCE";
    case 'b':
      return "BUILD";
    case 0x81:
      return "NEWOBJ";
    case 0x92:
      return "NEWOBJ_EX";
    case 'i':
      return "INST";
    case 'o':
      return "OBJ";
    case 'P':
      return "PERSID";
    case 'Q':
      return "BINPERSID";
    case 0x82:
    case 0x83:
    case 0x84:
      return "EXT";
    default:
      return nullptr;
  }
}

// The files are (list of bytes, list of bool): nothing nests deeper than a tuple of lists.
constexpr int kMaxDepth = 3;
// Values alive at once (stack, memo, list items): far above any verification set (LFW's has
// 18,000) and far below what memory allows, so a flood of one-byte opcodes cannot exhaust it.
constexpr int64_t kMaxValues = 2'000'000;

class Parser {
 public:
  explicit Parser(const std::string& bytes) : b_(bytes) {}

  absl::StatusOr<Value> Run() {
    while (true) {
      if (at_ >= b_.size()) return Error("ends before its STOP opcode (truncated?)");
      const size_t offset = at_;
      const uint8_t op = static_cast<uint8_t>(b_[at_++]);
      absl::Status status = Step(op, offset);
      if (!status.ok()) return status;
      if (op == '.') {
        if (stack_.size() != 1) return Error("STOP with a malformed stack");
        return stack_.back();
      }
    }
  }

 private:
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("not an InsightFace verification .bin: ", what, " (at byte ", at_, ")"));
  }

  absl::Status Refuse(const char* opcode, size_t offset) const {
    return absl::InvalidArgumentError(absl::StrFormat(
        "refused: pickle opcode %s at byte %d would import or call code; InsightFace's .bin "
        "files hold only lists of bytes and bools (and _codecs.encode for bytes at protocol 2), "
        "and nothing is ever executed",
        opcode, offset));
  }

  absl::Status Push(Value v) {
    if (++values_ > kMaxValues) return Error("more values than any verification set holds");
    if (v.depth > kMaxDepth) return Error("nested deeper than (list, list)");
    stack_.push_back(std::move(v));
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Unsigned(int n) {
    if (b_.size() - at_ < static_cast<size_t>(n)) return Error("a length runs past the end");
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b_[at_ + i]);
    at_ += n;
    return v;
  }

  absl::Status PushBytes(int length_bytes) {
    absl::StatusOr<uint64_t> n = Unsigned(length_bytes);
    if (!n.ok()) return n.status();
    if (*n > b_.size() - at_) return Error("a string runs past the end");
    Value v;
    v.kind = Value::kBytes;
    v.bytes = std::make_shared<const std::string>(b_.substr(at_, *n));
    at_ += *n;
    return Push(std::move(v));
  }

  // The items pushed since the last MARK, removed with it.
  absl::StatusOr<std::vector<Value>> PopToMark() {
    for (size_t i = stack_.size(); i-- > 0;) {
      if (stack_[i].kind == Value::kMark) {
        std::vector<Value> items(std::make_move_iterator(stack_.begin() + i + 1),
                                 std::make_move_iterator(stack_.end()));
        stack_.resize(i);
        return items;
      }
    }
    return Error("no MARK to match");
  }

  absl::Status PushTuple(std::vector<Value> items) {
    Value v;
    v.kind = Value::kTuple;
    v.depth = 1;
    for (const Value& item : items) v.depth = std::max(v.depth, item.depth + 1);
    v.items = std::make_shared<std::vector<Value>>(std::move(items));
    return Push(std::move(v));
  }

  absl::Status Memo(uint64_t index) {
    if (stack_.empty()) return Error("memoising an empty stack");
    if (index > (uint64_t{1} << 32)) return Error("a memo index out of range");
    if (++values_ > kMaxValues) return Error("more values than any verification set holds");
    memo_[index] = stack_.back();
    return absl::OkStatus();
  }

  absl::Status Step(uint8_t op, size_t offset) {
    switch (op) {
      case 0x80:  // PROTO
        if (at_ >= b_.size()) return Error("truncated PROTO");
        ++at_;
        return absl::OkStatus();
      case 0x95: {  // FRAME: a hint only
        absl::StatusOr<uint64_t> n = Unsigned(8);
        return n.status();
      }
      case '(': {
        Value mark;
        mark.kind = Value::kMark;
        return Push(mark);
      }
      case ']': {  // EMPTY_LIST
        Value v;
        v.kind = Value::kList;
        v.depth = 1;
        v.items = std::make_shared<std::vector<Value>>();
        return Push(std::move(v));
      }
      case 'l': {  // LIST (protocol 0/1)
        absl::StatusOr<std::vector<Value>> items = PopToMark();
        if (!items.ok()) return items.status();
        Value v;
        v.kind = Value::kList;
        v.depth = 1;
        for (const Value& item : *items) v.depth = std::max(v.depth, item.depth + 1);
        v.items = std::make_shared<std::vector<Value>>(*std::move(items));
        return Push(std::move(v));
      }
      case ')':
        return PushTuple({});
      case 't': {
        absl::StatusOr<std::vector<Value>> items = PopToMark();
        if (!items.ok()) return items.status();
        return PushTuple(*std::move(items));
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84;
        if (stack_.size() < n) return Error("TUPLE with too few items");
        std::vector<Value> items(std::make_move_iterator(stack_.end() - n),
                                 std::make_move_iterator(stack_.end()));
        stack_.resize(stack_.size() - n);
        for (const Value& item : items)
          if (item.kind == Value::kMark) return Error("TUPLE over a MARK");
        return PushTuple(std::move(items));
      }
      case 'a':
      case 'e': {  // APPEND, APPENDS
        std::vector<Value> items;
        if (op == 'a') {
          if (stack_.size() < 2) return Error("APPEND without a list");
          items.push_back(std::move(stack_.back()));
          stack_.pop_back();
        } else {
          absl::StatusOr<std::vector<Value>> popped = PopToMark();
          if (!popped.ok()) return popped.status();
          items = *std::move(popped);
        }
        if (stack_.empty() || stack_.back().kind != Value::kList) {
          return Error("APPEND to something that is not a list");
        }
        Value& list = stack_.back();
        for (Value& item : items) {
          if (item.depth + 1 > kMaxDepth) return Error("nested deeper than (list, list)");
          list.depth = std::max(list.depth, item.depth + 1);
          list.items->push_back(std::move(item));
        }
        return absl::OkStatus();
      }
      case 'C':
        return PushBytes(1);  // SHORT_BINBYTES
      case 'B':
        return PushBytes(4);  // BINBYTES
      case 0x8e:
        return PushBytes(8);  // BINBYTES8
      case 0x96:
        return PushBytes(8);  // BYTEARRAY8
      case 'U':
        return PushBytes(1);  // SHORT_BINSTRING (Python 2 str)
      case 'T':
        return PushBytes(4);  // BINSTRING
      case 0x8c:
        return PushBytes(1);  // SHORT_BINUNICODE
      case 'X':
        return PushBytes(4);  // BINUNICODE
      case 0x8d:
        return PushBytes(8);  // BINUNICODE8
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Value v;
        v.kind = Value::kBool;
        v.flag = op == 0x88;
        return Push(v);
      }
      case 'K':
      case 'M':
      case 'J': {  // BININT1, BININT2, BININT
        absl::StatusOr<uint64_t> n = Unsigned(op == 'K' ? 1 : op == 'M' ? 2 : 4);
        if (!n.ok()) return n.status();
        Value v;
        v.kind = Value::kInt;
        v.number = op == 'J' ? static_cast<int32_t>(*n) : static_cast<int64_t>(*n);
        return Push(v);
      }
      case 'I': {  // INT, as protocols 0/1 write True/False ("I01\n", "I00\n") and small ints
        const size_t end = b_.find('\n', at_);
        if (end == std::string::npos || end - at_ > 18) return Error("malformed INT");
        const std::string text = b_.substr(at_, end - at_);
        at_ = end + 1;
        Value v;
        if (text == "01" || text == "00") {
          v.kind = Value::kBool;
          v.flag = text == "01";
        } else {
          v.kind = Value::kInt;
          for (char c : text) {
            if (c < '0' || c > '9') return Error("malformed INT");
            v.number = v.number * 10 + (c - '0');  // at most 18 digits: no overflow
          }
        }
        return Push(v);
      }
      case 'N': {
        return Push(Value());
      }
      case 'q': {  // BINPUT
        absl::StatusOr<uint64_t> n = Unsigned(1);
        return n.ok() ? Memo(*n) : n.status();
      }
      case 'r': {  // LONG_BINPUT
        absl::StatusOr<uint64_t> n = Unsigned(4);
        return n.ok() ? Memo(*n) : n.status();
      }
      case 0x94:  // MEMOIZE
        return Memo(memo_.size());
      case 'h':
      case 'j': {  // BINGET, LONG_BINGET
        absl::StatusOr<uint64_t> n = Unsigned(op == 'h' ? 1 : 4);
        if (!n.ok()) return n.status();
        auto it = memo_.find(*n);
        if (it == memo_.end()) return Error("a memo reference to nothing");
        // Shared containers (and a list inside itself) never occur in these files.
        if (it->second.kind == Value::kList || it->second.kind == Value::kTuple) {
          return Error("a second reference to a list or tuple");
        }
        return Push(it->second);
      }
      case 'c': {  // GLOBAL: only _codecs.encode, which Python 3 uses for bytes at protocol 2
        const size_t end = b_.find('\n', b_.find('\n', at_) + 1);
        if (end == std::string::npos || b_.compare(at_, end - at_, "_codecs\nencode") != 0) {
          return Refuse("GLOBAL", offset);
        }
        at_ = end + 1;
        Value v;
        v.kind = Value::kCodecsEncode;
        return Push(v);
      }
      case 'R': {  // REDUCE: only _codecs.encode(text, "latin1"), decoded here, never called
        if (stack_.size() < 2) return Refuse("REDUCE", offset);
        const Value args = stack_.back();
        const Value callable = stack_[stack_.size() - 2];
        if (callable.kind != Value::kCodecsEncode || args.kind != Value::kTuple ||
            args.items->size() != 2 || (*args.items)[0].kind != Value::kBytes ||
            (*args.items)[1].kind != Value::kBytes || *(*args.items)[1].bytes != "latin1") {
          return Refuse("REDUCE", offset);
        }
        absl::StatusOr<std::string> bytes = Latin1FromUtf8(*(*args.items)[0].bytes);
        if (!bytes.ok()) return Error(std::string(bytes.status().message()));
        stack_.resize(stack_.size() - 2);
        Value v;
        v.kind = Value::kBytes;
        v.bytes = std::make_shared<const std::string>(*std::move(bytes));
        return Push(std::move(v));
      }
      case '.':
        return absl::OkStatus();
      default:
        if (const char* name = OpcodeName(op)) return Refuse(name, offset);
        return absl::InvalidArgumentError(absl::StrFormat(
            "not an InsightFace verification .bin: pickle opcode 0x%02x at byte %d is not one "
            "these files use",
            op, offset));
    }
  }

  const std::string& b_;
  size_t at_ = 0;
  std::vector<Value> stack_;
  std::map<uint64_t, Value> memo_;
  int64_t values_ = 0;
};

}  // namespace

absl::StatusOr<VerificationBin> ParseVerificationBin(const std::string& bytes) {
  if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != 0x80) {
    return absl::InvalidArgumentError(
        "not an InsightFace verification .bin: not a pickle of protocol 2 or later");
  }
  absl::StatusOr<Value> root = Parser(bytes).Run();
  if (!root.ok()) return root.status();
  if ((root->kind != Value::kTuple && root->kind != Value::kList) || root->items->size() != 2) {
    return absl::InvalidArgumentError(
        "not an InsightFace verification .bin: expected a pair (images, same)");
  }
  const Value& images = (*root->items)[0];
  const Value& same = (*root->items)[1];
  if (images.kind != Value::kList || same.kind != Value::kList) {
    return absl::InvalidArgumentError(
        "not an InsightFace verification .bin: expected (list of images, list of bool)");
  }
  VerificationBin bin;
  size_t total = 0;
  for (const Value& image : *images.items) {
    if (image.kind != Value::kBytes) {
      return absl::InvalidArgumentError(
          "not an InsightFace verification .bin: an image that is not bytes");
    }
    // Each image is in the file once: references to one large image cannot multiply it.
    total += image.bytes->size();
    if (total > bytes.size()) {
      return absl::InvalidArgumentError(
          "not an InsightFace verification .bin: images repeated by reference");
    }
    bin.images.push_back(*image.bytes);
  }
  for (const Value& flag : *same.items) {
    if (flag.kind == Value::kBool) {
      bin.same.push_back(flag.flag);
    } else if (flag.kind == Value::kInt && (flag.number == 0 || flag.number == 1)) {
      bin.same.push_back(flag.number == 1);
    } else {
      return absl::InvalidArgumentError(
          "not an InsightFace verification .bin: a same/different flag that is not a bool");
    }
  }
  if (bin.same.empty() || bin.images.size() != 2 * bin.same.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an InsightFace verification .bin: ", bin.images.size(), " images for ",
                     bin.same.size(), " pairs (expected two per pair)"));
  }
  return bin;
}

absl::StatusOr<VerificationBin> ReadVerificationBin(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  absl::StatusOr<VerificationBin> bin = ParseVerificationBin(*bytes);
  if (!bin.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bin.status().message()));
  return bin;
}

}  // namespace ftl
