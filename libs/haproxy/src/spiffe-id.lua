-- Warden: the peer's SPIFFE ID for HAProxy 2.6, which has no sample fetch for URI SANs.
-- Reads the verified client certificate (ssl_c_der), finds its subjectAltName extension
-- (OID 2.5.29.17) and returns the first URI GeneralName that starts with spiffe://; "" if none.
-- Only DER structure is trusted, never a text search: a subject or another extension that
-- happens to contain "spiffe://" is not an identity.

local function read_length(der, pos)
  local first = string.byte(der, pos)
  if first == nil then return nil end
  if first < 0x80 then return first, pos + 1 end
  local count = first - 0x80
  if count < 1 or count > 3 then return nil end
  local len = 0
  for i = 1, count do
    local b = string.byte(der, pos + i)
    if b == nil then return nil end
    len = len * 256 + b
  end
  return len, pos + 1 + count
end

-- One TLV at pos: tag, start of value, end of value (inclusive), or nil when malformed.
local function tlv(der, pos)
  local tag = string.byte(der, pos)
  if tag == nil then return nil end
  local len, value = read_length(der, pos + 1)
  if len == nil or value + len - 1 > #der then return nil end
  return tag, value, value + len - 1
end

local SAN_OID = "\6\3\85\29\17"

local function spiffe_id(der)
  if der == nil or der == "" then return "" end
  -- The extension is SEQUENCE { OID, [BOOLEAN critical], OCTET STRING { GeneralNames } }.
  local at = 1
  while true do
    local s, e = string.find(der, SAN_OID, at, true)
    if s == nil then return "" end
    at = e + 1
    local pos = e + 1
    local tag, value, last = tlv(der, pos)
    if tag == 0x01 then
      pos = last + 1
      tag, value, last = tlv(der, pos)
    end
    if tag == 0x04 then
      local seq, names, names_end = tlv(der, value)
      if seq == 0x30 and names_end <= last then
        local p = names
        while p <= names_end do
          local t, v, l = tlv(der, p)
          if t == nil or l > names_end then break end
          if t == 0x86 then
            local uri = string.sub(der, v, l)
            if string.sub(uri, 1, 9) == "spiffe://" then return uri end
          end
          p = l + 1
        end
      end
    end
  end
end

core.register_fetches("spiffe_id", function(txn)
  return spiffe_id(txn.f:ssl_c_der())
end)
