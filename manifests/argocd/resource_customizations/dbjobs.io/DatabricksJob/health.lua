-- Health of a dbjobs.io DatabricksJob: a Databricks job that the dbjobs controller keeps in line
-- with Git through the Databricks Jobs API.
--
-- The controller writes metav1.Condition-shaped status.conditions, each with its own
-- observedGeneration: Ready (the job exists and can run), Synced (the job matches spec.settings),
-- Drifted, RunHealthy (what recent runs say); status.observedGeneration; status.jobId.
-- The first rule that matches wins:
--   1. metadata.deletionTimestamp with the dbjobs finalizer -> Progressing, deletionMessage (the guard's
--      message while a mass deletion waits for a person's confirmation)
--   2. no status.conditions                                 -> Progressing
--   3. a terminal reason on Ready or Synced, or Synced=False, written for the current generation
--                                                            -> Degraded, "<reason>: <message>"
--      (but Synced=False ReferenceNotReady, a wait for a referenced job's id -> Progressing)
--   4. status.observedGeneration behind metadata.generation  -> Progressing
--   5. spec.paused                                           -> Suspended
--   6. spec.healthPolicy.affectsReady and the runs are unhealthy -> Degraded
--   7. Ready=True                                            -> Healthy (unhealthy runs that
--                                                               healthPolicy does not count are named)
--   8. anything else                                         -> Progressing, Ready's reason and message
--
-- Plain Lua on purpose: no string, math, os or table library calls, so it works in argocd-cm
-- without useOpenLibs (where a script that calls them shows Unknown).

local FINALIZER = "dbjobs.io/finalizer"
-- Reasons that do not clear by waiting: a person has to change the spec, the workspace, the Secret
-- or the token.
local TERMINAL = {
  InvalidSpec = true,
  WorkspaceNotFound = true,
  SecretNotFound = true,
  Unauthorized = true,
  AdoptTargetMissing = true,
  AdoptTargetOwned = true,
  AdoptTargetAmbiguous = true,
  DriftNotConverging = true,
  HostNotAllowed = true,
  SecretNotAllowed = true,
  JobsVanished = true,
  PolicyViolation = true,
  WorkspaceNotAllowed = true,
  WorkspaceChanged = true,
}
-- RunHealthy=False reasons; Ready carries one of them when healthPolicy.affectsReady gated it.
local RUN_UNHEALTHY = {
  LastRunFailed = true,
  ConsecutiveFailures = true,
  RunOverdue = true,
  RunTooLong = true,
}

local hs = {}
local meta = obj.metadata or {}
local spec = obj.spec or {}
local status = obj.status or {}
local generation = meta.generation

local function find(conditions, ctype)
  for _, c in ipairs(conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

-- Written for the spec Argo CD sees now (a condition of an older generation is stale).
local function current(c)
  return c.observedGeneration == nil or generation == nil or c.observedGeneration >= generation
end

local function jobName()
  if status.jobId ~= nil then
    return "Databricks job " .. tostring(status.jobId)
  end
  return "the Databricks job"
end

-- 1. Deleting: the finalizer holds the resource until the job is deleted in Databricks.
if meta.deletionTimestamp ~= nil then
  local ours = false
  for _, f in ipairs(meta.finalizers or {}) do
    if f == FINALIZER then
      ours = true
    end
  end
  if ours then
    hs.status = "Progressing"
    local held = find(status.conditions or {}, "DeletionHeld")
    if held ~= nil and held.status == "True" then
      hs.deletionMessage = "Deleting: held by the mass deletion guard, " .. describe(held)
    elseif spec.deletionPolicy == "Orphan" then
      hs.deletionMessage = "Deleting: " .. jobName() .. " is kept in the workspace (deletionPolicy Orphan); "
        .. "the dbjobs controller releases " .. FINALIZER
    elseif status.jobId == nil then
      hs.deletionMessage = "Deleting: no Databricks job is recorded; the dbjobs controller looks for one it "
        .. "created, then releases " .. FINALIZER
    else
      hs.deletionMessage = "Deleting: waiting for the dbjobs controller to delete " .. jobName()
        .. " in the workspace (finalizer " .. FINALIZER .. "); Warning events DeleteBlocked or JobOrphaned "
        .. "say why if it cannot"
    end
    return hs
  end
end

-- 2. Not reconciled yet.
local conditions = status.conditions
if conditions == nil or conditions[1] == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the dbjobs controller to reconcile the DatabricksJob"
  return hs
end

local ready = find(conditions, "Ready")
local synced = find(conditions, "Synced")
local runs = find(conditions, "RunHealthy")

-- 3. Degraded first: a terminal reason, or Synced=False (drift reported, a correction that does
-- not converge, a workspace or API error), for the current generation. Paused is rule 5's.
local function terminal(c)
  return c ~= nil and c.status ~= "True" and current(c) and TERMINAL[c.reason] == true
end
if terminal(synced) or terminal(ready) then
  hs.status = "Degraded"
  if terminal(synced) then
    hs.message = describe(synced)
  else
    hs.message = describe(ready)
  end
  return hs
end
-- Waiting for a referenced DatabricksJob to get its job id clears by itself: Progressing.
if synced ~= nil and synced.status == "False" and synced.reason == "ReferenceNotReady" and current(synced) then
  hs.status = "Progressing"
  hs.message = describe(synced)
  return hs
end
if synced ~= nil and synced.status == "False" and synced.reason ~= "Paused" and current(synced) then
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end

-- 4. The controller has not applied this generation yet.
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  if observed == nil then
    hs.message = "Waiting for the dbjobs controller to apply generation " .. tostring(generation)
  else
    hs.message = "Waiting for the dbjobs controller to apply generation " .. tostring(generation)
      .. " (applied: " .. tostring(observed) .. ")"
  end
  return hs
end

-- 5. spec.paused: the controller observes and reports, and changes nothing.
if spec.paused == true then
  hs.status = "Suspended"
  if synced ~= nil and synced.status == "False" then
    hs.message = describe(synced)
  else
    hs.message = "spec.paused is true: the dbjobs controller makes no change to " .. jobName()
  end
  return hs
end

-- 6. Run health counts only when spec.healthPolicy.affectsReady says so.
local policy = spec.healthPolicy or {}
local runsUnhealthy = runs ~= nil and runs.status == "False" and RUN_UNHEALTHY[runs.reason] == true
if policy.affectsReady == true then
  if runsUnhealthy then
    hs.status = "Degraded"
    hs.message = describe(runs)
    return hs
  end
  if ready ~= nil and ready.status == "False" and RUN_UNHEALTHY[ready.reason] then
    hs.status = "Degraded"
    hs.message = describe(ready)
    return hs
  end
end

-- 7. The job exists and matches the spec.
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  if runsUnhealthy then
    hs.message = hs.message .. "; runs unhealthy, not counted (spec.healthPolicy.affectsReady is not true): "
      .. describe(runs)
  end
  return hs
end

-- 8. Anything else: not ready yet (Pending, or no Ready condition so far).
hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the dbjobs controller to report Ready"
end
return hs
