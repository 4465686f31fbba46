-- Argo CD health check for registry.regcred.dev/RegistryCredential.
--
-- Healthy     Ready is True for the current generation.
-- Degraded    Stalled is True: nothing progresses until a person fixes the
--             spec, the source Secret or a foreign Secret (Conflict).
-- Progressing everything else: no status yet, a status of an older
--             generation, or Reconciling (writes in flight, API errors being
--             retried, a source that does not exist yet).
local hs = { status = "Progressing", message = "Waiting for the operator to report a status" }

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.message = "Being deleted: the operator removes its copies and ServiceAccount entries"
  return hs
end
if obj.status == nil then
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

-- A condition written for an older generation says nothing about this one.
local function current(c)
  return c ~= nil and (generation == nil or c.observedGeneration == nil or c.observedGeneration >= generation)
end

local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local ready, stalled, reconciling = nil, nil, nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "Stalled" then
      stalled = c
    elseif c.type == "Reconciling" then
      reconciling = c
    end
  end
end

if current(stalled) and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
if current(ready) and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
if current(reconciling) and reconciling.status == "True" then
  hs.message = describe(reconciling)
elseif current(ready) then
  hs.message = describe(ready)
end
return hs
